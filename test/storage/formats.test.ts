// Every source format the IMM documentation lists plays, beyond those test/http/frames.test.ts covers:
// WMV, RM, VOB, and HLS (a playlist whose segments sit beside it in the bucket) — frames checked by the
// index each one carries.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameAt, hlsFixture, keyframeAtOrBefore, legacyFixture, readFrameIndex } from '../support/fixtures.js';
import { snapshotUrl, startServer, type TestServer } from '../support/server.js';

async function frameOf(server: TestServer, object: string, process: string): Promise<{ index: number; time: number; key: string | null }> {
  const res = await fetch(snapshotUrl(server, object, process));
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, body.toString().slice(0, 400)).toBe(200);
  return { index: await readFrameIndex(body), time: Number(res.headers.get('x-frame-time')), key: res.headers.get('x-frame-keyframe') };
}

describe('legacy containers through the URL API', () => {
  let server: TestServer;
  beforeAll(async () => {
    const [wmv, rm, vob] = await Promise.all([legacyFixture('wmv'), legacyFixture('rm'), legacyFixture('vob')]);
    server = await startServer({ objects: { 'media/a.wmv': wmv, 'media/a.rm': rm, 'media/a.vob': vob } });
  });
  afterAll(() => server.close());

  for (const ext of ['wmv', 'rm', 'vob']) {
    describe(ext, () => {
      it.each([0, 1020, 1980, 2500, 3980])('exact frame at t=%i ms', async (t) => {
        const got = await frameOf(server, `media/a.${ext}`, `video/snapshot,t_${t},f_png`);
        expect(got.index).toBe(frameAt(t));
        expect(got.time).toBe(frameAt(t) * 40);
      });
      it.each([1020, 2500, 3980])('keyframe at or before t=%i ms with m_fast', async (t) => {
        const got = await frameOf(server, `media/a.${ext}`, `video/snapshot,t_${t},f_png,m_fast`);
        expect(got.index).toBe(keyframeAtOrBefore(frameAt(t)));
        expect(got.key).toBe('1');
      });
      it('past the end → the last frame', async () => {
        expect((await frameOf(server, `media/a.${ext}`, 'video/snapshot,t_60000,f_png')).index).toBe(99);
      });
    });
  }
});

describe('HLS playlist beside its segments', () => {
  let server: TestServer;
  beforeAll(async () => {
    const hls = await hlsFixture();
    const objects: Record<string, string> = { 'media/show/index.m3u8': join(hls.dir, hls.playlist) };
    for (const segment of hls.segments) objects[`media/show/${segment}`] = join(hls.dir, segment);
    server = await startServer({ objects });
  });
  afterAll(() => server.close());

  it.each([0, 1020, 2500, 4980, 5980])('exact frame at t=%i ms', async (t) => {
    const got = await frameOf(server, 'media/show/index.m3u8', `video/snapshot,t_${t},f_png`);
    expect(got.index).toBe(frameAt(t));
  });
  it.each([1020, 3500])('keyframe at or before t=%i ms with m_fast', async (t) => {
    const got = await frameOf(server, 'media/show/index.m3u8', `video/snapshot,t_${t},f_png,m_fast`);
    expect(got.index).toBe(keyframeAtOrBefore(frameAt(t)));
  });
  it('serves the playlist itself as a plain object, unchanged', async () => {
    const res = await fetch(`${server.url}/media/show/index.m3u8`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(await readFile(join((await hlsFixture()).dir, 'index.m3u8'), 'utf8'));
  });
});
