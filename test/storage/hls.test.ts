// HLS: a playlist plays from segments beside it in the same bucket, read through the storage adapter —
// and nothing else. The server reads and checks every playlist; the engine only sees segment bytes: absolute
// URLs, other protocols, absolute paths, `..` out of the bucket, query strings, encrypted playlists and
// playlists in disguise are refused with a 400 naming the problem, and the host they name is never asked.
// The playlist checks themselves are unit tests: test/unit/media/hls-playlist.test.ts.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameAt, hlsFixture, keyframeAtOrBefore, readFrameIndex, type HlsFixture } from '../support/fixtures.js';
import { putFile } from '../support/storage.js';
import { startServer, type TestServer } from '../support/server.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

describe('HLS through the server', () => {
  let root: string;
  let hls: HlsFixture;
  let evil: Origin;
  let local: TestServer;
  let origin: Origin;
  let remote: TestServer;

  const snap = async (app: TestServer, key: string, process = 'video/snapshot,t_2500,f_png') => {
    const res = await fetch(`${app.url}/media/${key}?x-oss-process=${process}`);
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, body, text: body.toString() };
  };

  beforeAll(async () => {
    hls = await hlsFixture();
    root = await mkdtemp(join(tmpdir(), 'stillframe-hls-'));
    const playlist = await readFile(join(hls.dir, hls.playlist), 'utf8');
    for (const segment of hls.segments) await putFile(root, 'media', `show/${segment}`, await readFile(join(hls.dir, segment)));
    await putFile(root, 'media', 'show/index.m3u8', playlist);
    // Relative paths that climb, but stay inside the bucket.
    await putFile(root, 'media', 'show/lists/up.m3u8', playlist.replace(/^seg/gm, '../seg'));
    await putFile(root, 'media', 'master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=320x240\nshow/index.m3u8\n');
    evil = await startOrigin({ root, prefix: '/evil' });
    const evilSegment = `${evil.base}/media/show/seg000.ts`;
    await putFile(root, 'media', 'bad/absolute.m3u8', `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${evilSegment}\n#EXT-X-ENDLIST\n`);
    await putFile(root, 'media', 'bad/file.m3u8', '#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n');
    await putFile(root, 'media', 'bad/escape.m3u8', '#EXTM3U\n#EXTINF:1,\n../../../../etc/passwd\n#EXT-X-ENDLIST\n');
    await putFile(root, 'media', 'bad/evil-variant.m3u8', `#EXTM3U\n#EXTINF:1,\n${evilSegment}\n#EXT-X-ENDLIST\n`);
    await putFile(root, 'media', 'bad/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nevil-variant.m3u8\n');
    // A "segment" that is really a playlist pointing elsewhere.
    await putFile(root, 'media', 'bad/disguised.ts', `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${evilSegment}\n#EXT-X-ENDLIST\n`);
    await putFile(root, 'media', 'bad/disguise.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\ndisguised.ts\n#EXT-X-ENDLIST\n');
    await putFile(root, 'media', 'bad/playlist.mp4', playlist);
    local = await startServer({ env: { STILLFRAME_STORAGE: `file://${root}` } });
    origin = await startOrigin({ root, prefix: '/origin' });
    remote = await startServer({ env: { STILLFRAME_STORAGE: origin.base } });
  });
  afterAll(async () => {
    await local?.close();
    await remote?.close();
    await evil?.close();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  for (const where of ['local directory', 'HTTP origin'] as const) {
    describe(where, () => {
      const app = () => (where === 'local directory' ? local : remote);

      it.each([0, 1020, 2500, 4980, 5980])('plays the playlist: exact frame at t=%i ms', async (t) => {
        const res = await snap(app(), 'show/index.m3u8', `video/snapshot,t_${t},f_png`);
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        expect(await readFrameIndex(res.body)).toBe(frameAt(t));
      });

      it('m_fast gives the keyframe at or before t', async () => {
        const res = await snap(app(), 'show/index.m3u8', 'video/snapshot,t_3500,f_png,m_fast');
        expect(await readFrameIndex(res.body)).toBe(keyframeAtOrBefore(frameAt(3500)));
      });

      it('plays a master playlist and a playlist whose URIs climb inside the bucket', async () => {
        for (const key of ['master.m3u8', 'show/lists/up.m3u8']) {
          const res = await snap(app(), key);
          expect(res.status, res.text.slice(0, 300)).toBe(200);
          expect(await readFrameIndex(res.body)).toBe(frameAt(2500));
        }
      });

      it.each([
        ['bad/absolute.m3u8', 'absolute URLs are refused'],
        ['bad/file.m3u8', 'absolute URLs are refused'],
        ['bad/escape.m3u8', 'leaves the bucket'],
        ['bad/master.m3u8', 'absolute URLs are refused'],
        ['bad/disguise.m3u8', 'is a playlist, not media'],
      ])('refuses %s with a 400 naming the problem, and never contacts the host it names', async (key, why) => {
        evil.reset();
        const res = await snap(app(), key);
        expect(res.status).toBe(400);
        expect(res.text).toContain('<Code>InvalidArgument</Code>');
        expect(res.text).toContain(why);
        expect(evil.requests).toHaveLength(0);
      });

      it('a playlist named .mp4 is not parsed as one', async () => {
        const res = await snap(app(), 'bad/playlist.mp4');
        expect(res.status).toBe(400);
      });
    });
  }

  it('through an HTTP origin, only objects of the bucket are requested', async () => {
    origin.reset();
    expect((await snap(remote, 'show/index.m3u8', 'video/snapshot,t_4020,f_png')).status).toBe(200);
    expect(origin.requests.length).toBeGreaterThan(0);
    expect(origin.requests.every((r) => r.path.startsWith('/origin/media/show/'))).toBe(true);
  });
});
