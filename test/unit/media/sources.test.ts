// How the engine is to read an object (src/media/sources.ts): a local path from the file store, nothing
// for the read bridge; a playlist's segments in order with their durations; a master playlist's best
// variant; any other store's object through the read bridge, pinned to its ETag; the id naming one version.
// An HTTP origin's object read through the bridge is in test/storage/engine-reads.test.ts.
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../../src/errors.js';
import { createBlockCache } from '../../../src/media/block-cache.js';
import { MAX_PLAYLIST_BYTES } from '../../../src/media/hls-playlist.js';
import { prepareSource, sourceId } from '../../../src/media/sources.js';
import { createFsStore } from '../../../src/source/fs-store.js';
import { rangeFetcher } from '../../../src/source/open-store.js';
import type { ObjectStat, ObjectStore } from '../../../src/source/store.js';
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

/** An object store in memory without a local path (as S3 and HTTP origins are), counting stats. */
function memoryStore(objects: Record<string, string>) {
  const stats: string[] = [];
  const find = (key: string) => {
    const body = objects[key];
    if (body === undefined) throw errors.noSuchKey(key);
    return Buffer.from(body);
  };
  const store: ObjectStore = {
    description: 'memory',
    async stat(_bucket, key) {
      stats.push(key);
      const body = find(key);
      return { size: body.length, etag: `"${key.length}-${body.length}"`, lastModified: new Date(0), contentType: 'application/octet-stream' };
    },
    async read(_bucket, key, range) {
      const body = find(key);
      return Readable.from([range ? body.subarray(range.start, range.end + 1) : body]);
    },
    async write() {
      throw new Error('read-only');
    },
  };
  return { store, stats };
}

describe('preparing a source from a store without local paths', () => {
  const prepare = async (store: ObjectStore, key: string, stat?: ObjectStat) => {
    const blocks = createBlockCache({ blockSize: 64 * 1024, maxBytes: 1024 ** 2, fetch: rangeFetcher(store) });
    return prepareSource(store, blocks, 'media', key, stat ?? (await store.stat('media', key)));
  };

  it('sourceId names one version of one object: bucket, key and ETag, unambiguously', () => {
    expect(sourceId('media', 'a/b.mp4', '"e1"')).toBe('media\u0000a/b.mp4\u0000"e1"');
    expect(sourceId('media', 'a/b.mp4', '"e1"')).not.toBe(sourceId('media', 'a/b.mp4', '"e2"'));
    // The separator cannot occur in a bucket name or key (both refuse control characters): no two objects share an id.
    expect(sourceId('media', 'a/b', '"e"')).not.toBe(sourceId('media/a', 'b', '"e"'));
  });

  it('an object: read through the bridge, pinned to the ETag it was stat-ed with', async () => {
    const { store } = memoryStore({ 'v.mp4': 'not really media' });
    const stat = await store.stat('media', 'v.mp4');
    expect(await prepare(store, 'v.mp4', stat)).toEqual({
      ref: { kind: 'object', id: sourceId('media', 'v.mp4', stat.etag), size: 16 },
      target: { kind: 'object', version: { bucket: 'media', key: 'v.mp4', etag: stat.etag, size: 16 } },
    });
  });

  it('a playlist is recognised by its name (.m3u8, .m3u, any case), its segments keyed in the bucket', async () => {
    const { store } = memoryStore({ 'a/list.M3U': '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg0.m4s\n#EXTINF:2,\n../b/seg1.m4s\n' });
    const stat = await store.stat('media', 'a/list.M3U');
    expect(await prepare(store, 'a/list.M3U', stat)).toEqual({
      ref: { kind: 'hls', id: sourceId('media', 'a/list.M3U', stat.etag), segments: [2, 2], hasInit: true },
      target: { kind: 'hls', bucket: 'media', init: 'a/init.mp4', segments: ['a/seg0.m4s', 'b/seg1.m4s'] },
    });
  });

  it('a master playlist: every variant is read and checked, the highest bandwidth is played, its version in the id', async () => {
    const { store, stats } = memoryStore({
      'm.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900\nhi.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=100\nlo.m3u8\n',
      'hi.m3u8': '#EXTM3U\n#EXTINF:1,\nhi0.ts\n',
      'lo.m3u8': '#EXTM3U\n#EXTINF:1,\nlo0.ts\n',
    });
    const master = await store.stat('media', 'm.m3u8');
    const best = await store.stat('media', 'hi.m3u8');
    stats.length = 0;
    const prepared = await prepare(store, 'm.m3u8', master);
    expect(prepared.ref).toEqual({ kind: 'hls', id: `${sourceId('media', 'm.m3u8', master.etag)}\u0000hi.m3u8\u0000${best.etag}`, segments: [1], hasInit: false });
    expect(prepared.target).toMatchObject({ segments: ['hi0.ts'] });
    expect(stats).toEqual(['hi.m3u8', 'lo.m3u8']);
  });

  it('a bad variant is refused even when a good one would be played; a master of masters has nothing to play', async () => {
    const { store } = memoryStore({
      'm.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900\nhi.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=100\nbad.m3u8\n',
      'hi.m3u8': '#EXTM3U\n#EXTINF:1,\nhi0.ts\n',
      'bad.m3u8': '#EXTM3U\n#EXTINF:1,\nhttp://evil.example/x.ts\n',
      'nested.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nonly-master.m3u8\n',
      'only-master.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi.m3u8\n',
    });
    await expect(prepare(store, 'm.m3u8')).rejects.toMatchObject({ status: 400, message: expect.stringContaining('"bad.m3u8" refers to "http://evil.example/x.ts"') });
    await expect(prepare(store, 'nested.m3u8')).rejects.toMatchObject({ status: 400, message: 'The HLS playlist "nested.m3u8" has no media playlist among its variants.' });
  });

  it('a playlist above 4 MiB is refused before it is read; an empty one is not a playlist', async () => {
    const { store, stats } = memoryStore({ 'big.m3u8': '#EXTM3U\n', 'empty.m3u8': '' });
    const big = { ...(await store.stat('media', 'big.m3u8')), size: MAX_PLAYLIST_BYTES + 1 };
    await expect(prepare(store, 'big.m3u8', big)).rejects.toMatchObject({ status: 400, message: `The HLS playlist "big.m3u8" is ${MAX_PLAYLIST_BYTES + 1} bytes, above the limit of ${MAX_PLAYLIST_BYTES}.` });
    await expect(prepare(store, 'empty.m3u8')).rejects.toMatchObject({ status: 400, message: 'The object "empty.m3u8" is not an HLS playlist (it does not start with #EXTM3U).' });
    expect(stats).toEqual(['big.m3u8', 'empty.m3u8']);
  });
});
