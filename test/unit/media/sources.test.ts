// How the engine is to read an object (src/media/sources.ts): a local path from the file store, nothing
// for the read bridge; a playlist's segments in order with their durations; a master playlist's best
// variant. The read of an HTTP origin's object through the bridge is in test/storage/engine-reads.test.ts.
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../../src/media/block-cache.js';
import { prepareSource } from '../../../src/media/sources.js';
import { createFsStore } from '../../../src/source/fs-store.js';
import { rangeFetcher } from '../../../src/source/open-store.js';
import type { ObjectStore } from '../../../src/source/store.js';
import { putFile } from '../../support/storage.js';

describe('preparing a source for the engine', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-prepare-'));
    await putFile(root, 'media', 'v.mp4', 'not really');
    await putFile(root, 'media', 'show/index.m3u8', '#EXTM3U\n#EXTINF:2.5,\nseg0.ts\n#EXTINF:1.5,\nseg1.ts\n');
    await putFile(root, 'media', 'show/low.m3u8', '#EXTM3U\n#EXTINF:4,\nlow0.ts\n');
    await putFile(root, 'media', 'master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100\nshow/low.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=900\nshow/index.m3u8\n');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const prepare = async (store: ObjectStore, key: string) => {
    const blocks = createBlockCache({ blockSize: 64 * 1024, maxBytes: 1024 ** 2, fetch: rangeFetcher(store) });
    return prepareSource(store, blocks, 'media', key, await store.stat('media', key));
  };

  it('the file store: a local path inside the root, nothing for the bridge', async () => {
    const store = await createFsStore(root);
    const prepared = await prepare(store, 'v.mp4');
    expect(prepared.ref).toMatchObject({ kind: 'file', path: join(await realpath(root), 'media', 'v.mp4') });
    expect(prepared.target).toBeUndefined();
  });

  it('a playlist: its segments in order with their durations; a master playlist: its best variant', async () => {
    const store = await createFsStore(root);
    expect(await prepare(store, 'show/index.m3u8')).toMatchObject({
      ref: { kind: 'hls', segments: [2.5, 1.5], hasInit: false },
      target: { kind: 'hls', bucket: 'media', segments: ['show/seg0.ts', 'show/seg1.ts'] },
    });
    expect(await prepare(store, 'master.m3u8')).toMatchObject({ target: { segments: ['show/seg0.ts', 'show/seg1.ts'] } });
  });
});
