// The snapshot endpoint's HTTP behaviour: errors of the spec's table, validators, caching,
// single-flight, saturation, abort and deadlines — against real capture workers.
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioFixture, codeImage, fixture, readFrameIndex, SLOW_DECODE, slowDecodeFixture } from '../support/fixtures.js';
import { processCall, snapshotUrl, startServer, type TestServer } from '../support/server.js';
import { isRunning, waitFor } from '../support/wait.js';

let server: TestServer;
let video: string;

beforeAll(async () => {
  video = await fixture({ container: 'mp4', codec: 'h264' });
  const mp4 = await import('node:fs/promises').then((fs) => fs.readFile(video));
  server = await startServer({
    objects: {
      'media/v.mp4': video,
      'media/silent.mp3': await audioFixture({ cover: false }),
      'media/random.mp4': Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 256)),
      'media/empty.mp4': Buffer.alloc(0),
      'media/truncated.mp4': mp4.subarray(0, Math.floor(mp4.length / 3)),
      'media/picture.mp4': await codeImage(7, { width: 320, height: 240, format: 'jpeg', quality: 90 }),
      'media/playlist.mp4': Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n'),
    },
    env: { STILLFRAME_MAX_SOURCE_PIXELS: String(1920 * 1080) },
  });
  await symlink('/etc', join(server.root, 'media', 'escape'));
  await symlink('/etc/hostname', join(server.root, 'media', 'host.mp4'));
}, 60_000);
afterAll(() => server?.close());

const call = (object: string, process: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => processCall(server, object, process, headers, method);

describe('the spec error table', () => {
  it.each([
    ['video/snapshot,t_abc', '0053-00000101'],
    ['video/snapshot,w_abc', '0053-00000104'],
    ['video/snapshot,h_-1', '0053-00000105'],
    ['video/snapshot,m_slow', '0053-00000106'],
    ['video/snapshot,f_bmp', '0053-00000107'],
    ['video/snapshot,ar_x', '0053-00000108'],
    ['video/snapshot,zz_1', '0053-00000109'],
    ['video/snap', '0053-00000109'],
  ])('%s → 400 InvalidArgument %s', async (process, ec) => {
    const e = await call('media/v.mp4', process);
    expect(e).toMatchObject({ status: 400, code: 'InvalidArgument', ec });
    expect(e.headers['x-oss-ec']).toBe(ec);
    expect(e.headers['content-type']).toBe('application/xml');
    expect(e.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
  });

  it('a duplicate x-oss-process is malformed', async () => {
    const res = await request(`${server.url}/m/v.mp4?x-oss-process=video/snapshot&x-oss-process=video/snapshot`);
    expect(res.statusCode).toBe(400);
    expect(await res.body.text()).toContain('0053-00000109');
  });

  it('missing object and bucket → 404', async () => {
    expect(await call('media/none.mp4', 'video/snapshot')).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(await call('nobucket/v.mp4', 'video/snapshot')).toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it.each([
    ['media/random.mp4', /not video or audio in a container stillframe reads/],
    ['media/empty.mp4', /not video or audio in a container stillframe reads/],
    ['media/truncated.mp4', /./],
    ['media/picture.mp4', /not video or audio in a container stillframe reads/],
    ['media/silent.mp3', /no video stream/],
    ['media/playlist.mp4', /not video or audio in a container stillframe reads/],
  ])('%s → 400 InvalidArgument, never 5xx', async (object, message) => {
    const e = await call(object, 'video/snapshot,t_1000');
    expect(e).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(e.message).toMatch(message);
  });

  it('symlinks that leave the root are not objects', async () => {
    expect((await call('media/escape/passwd', 'video/snapshot')).status).toBe(404);
    expect((await call('media/host.mp4', 'video/snapshot')).status).toBe(404);
  });

  it('a source above the pixel limit is refused before decoding', async () => {
    const big = await fixture({ container: 'mp4', codec: 'h264', width: 2560, height: 1440, seconds: 1 });
    await import('node:fs/promises').then((fs) => fs.copyFile(big, join(server.root, 'media', 'big.mp4')));
    const e = await call('media/big.mp4', 'video/snapshot,t_0');
    expect(e).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(e.message).toContain('2560x1440');
  });
});

describe('validators and caching', () => {
  it('answers 304 to If-None-Match without decoding', async () => {
    const first = await call('media/v.mp4', 'video/snapshot,t_1500,w_100');
    expect(first.status).toBe(200);
    const before = await server.jobs();
    const again = await call('media/v.mp4', 'video/snapshot,w_100,t_1500', { 'if-none-match': first.headers.etag as string });
    expect(again.status).toBe(304);
    expect(await server.jobs()).toEqual(before);
  });

  it('caches results under the canonical form', async () => {
    const first = await call('media/v.mp4', 'video/snapshot,t_1200,f_png');
    expect(first.headers['x-cache']).toBe('MISS');
    const before = await server.jobs();
    const second = await call('media/v.mp4', 'video/snapshot,f_png,t_1200');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(second.body).toEqual(first.body);
    expect(await server.jobs()).toEqual(before);
  });

  it('HEAD answers the headers of GET without a body', async () => {
    const get = await call('media/v.mp4', 'video/snapshot,t_800');
    const head = await call('media/v.mp4', 'video/snapshot,t_800', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    for (const name of ['etag', 'content-type', 'content-length', 'x-frame-time', 'cache-control', 'last-modified']) {
      expect(head.headers[name]).toBe(get.headers[name]);
    }
  });

  it('tells the truth in its headers', async () => {
    const r = await call('media/v.mp4', 'video/snapshot,t_2030');
    expect(r.headers['x-frame-time']).toBe('2000');
    expect(r.headers['x-frame-keyframe']).toBe('1');
    expect(r.headers['cache-control']).toMatch(/max-age=\d+/);
    expect(r.headers['server-timing']).toMatch(/open;dur=[\d.]+, decode;dur=[\d.]+, encode;dur=[\d.]+, total;dur=[\d.]+/);
  });

  it('a changed object gets a new ETag and a fresh frame (within STILLFRAME_SOURCE_REVALIDATE_MS)', async () => {
    await writeFile(join(server.root, 'media', 'changing.mp4'), await import('node:fs/promises').then((fs) => fs.readFile(video)));
    const first = await call('media/changing.mp4', 'video/snapshot,t_1000');
    const other = await fixture({ container: 'mp4', codec: 'h264', gop: 10 });
    await new Promise((r) => setTimeout(r, 20));
    await import('node:fs/promises').then((fs) => fs.copyFile(other, join(server.root, 'media', 'changing.mp4')));
    // Rewritten behind the server's back: its stat is trusted for the revalidation interval.
    await new Promise((r) => setTimeout(r, server.deps.config.cache.sourceRevalidateMs + 50));
    const second = await call('media/changing.mp4', 'video/snapshot,t_1000');
    expect(second.headers.etag).not.toBe(first.headers.etag);
    expect(second.headers['x-cache']).toBe('MISS');
  });

  it('N identical concurrent misses decode once', async () => {
    const before = await server.jobs();
    const results = await Promise.all(Array.from({ length: 20 }, () => call('media/v.mp4', 'video/snapshot,t_3100,w_64')));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.body.toString('base64'))).size).toBe(1);
    expect((await server.jobs()).capture - before.capture).toBe(1);
    expect(await readFrameIndex((await call('media/v.mp4', 'video/snapshot,t_3100,w_200')).body)).toBe(77);
  });
});

describe('load and faults', () => {
  it('a full queue answers 503 with Retry-After, the rest succeed', async () => {
    const busy = await startServer({
      objects: { 'media/v.mp4': video },
      env: { STILLFRAME_WORKERS: '1', STILLFRAME_QUEUE_LENGTH: '2' },
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const res = await request(snapshotUrl(busy, 'media/v.mp4', `video/snapshot,t_${100 * i + 50}`));
          return { status: res.statusCode, retryAfter: res.headers['retry-after'], text: await res.body.text() };
        }),
      );
      const rejected = results.filter((r) => r.status === 503);
      expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(3);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      expect(rejected.length + results.filter((r) => r.status === 200).length).toBe(10);
      for (const r of rejected) {
        expect(Number(r.retryAfter)).toBeGreaterThan(0);
        expect(r.text).toContain('<Code>ServiceUnavailable</Code>');
      }
    } finally {
      await busy.close();
    }
  });

  // The exact frame at SLOW_DECODE.lastFrameMs needs every frame of the file decoded (about a second or
  // more of one worker's time, one synchronous call the worker cannot be told to stop), then that noise
  // is scaled up to 4096×2304 and encoded as PNG (a second or more again).
  const SLOW = `video/snapshot,t_${SLOW_DECODE.lastFrameMs},f_png,w_4096,h_2304`;

  it('a client that hangs up stops its decode: the worker is killed and replaced, its slot freed', async () => {
    const s = await startServer({ objects: { 'media/slow.mp4': await slowDecodeFixture(), 'media/v.mp4': video }, env: { STILLFRAME_WORKERS: '1' } });
    try {
      const [pid] = await s.workers();
      expect(pid).toBeDefined();
      const controller = new AbortController();
      const pending = fetch(snapshotUrl(s, 'media/slow.mp4', SLOW), { signal: controller.signal }).catch((e: Error) => e);
      await waitFor(async () => s.deps.pool.busy === 1 && s.deps.limiter.active === 1);
      // Let the decode get going: the job is well inside its work when the client leaves.
      await new Promise((r) => setTimeout(r, 100));
      const hungUp = Date.now();
      controller.abort();
      expect(await pending).toBeInstanceOf(Error);
      // Nobody waits for the frame any more: the worker is killed (after a 250 ms grace), not let finish.
      await waitFor(async () => !(await isRunning(pid!)), 5000);
      const killedAfter = Date.now() - hungUp;
      expect(killedAfter).toBeLessThan(1500);
      expect(await s.restarts()).toMatchObject({ abandoned: 1 });
      // Its capture slot is free again (the job ended with the worker).
      await waitFor(async () => s.deps.limiter.active === 0, 2000);
      // A new worker took its place and answers the next request with the right frame.
      await waitFor(async () => (await s.workers()).length === 1);
      expect(await s.workers()).not.toContain(pid);
      const res = await request(snapshotUrl(s, 'media/v.mp4', 'video/snapshot,t_3100,w_200'));
      expect(res.statusCode).toBe(200);
      expect(await readFrameIndex(Buffer.from(await res.body.arrayBuffer()))).toBe(77);
      expect(s.deps.limiter.active).toBe(0);
      expect(s.deps.pool.busy).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a decode past its deadline: 504 GatewayTimeout, the worker killed and replaced, the next request right', async () => {
    const s = await startServer({
      objects: { 'media/slow.mp4': await slowDecodeFixture(), 'media/v.mp4': video },
      env: { STILLFRAME_WORKERS: '1', STILLFRAME_DECODE_TIMEOUT_MS: '1200' },
    });
    try {
      const [pid] = await s.workers();
      const started = Date.now();
      const res = await request(snapshotUrl(s, 'media/slow.mp4', SLOW));
      const took = Date.now() - started;
      expect(res.statusCode).toBe(504);
      const text = await res.body.text();
      expect(text).toContain('<Code>GatewayTimeout</Code>');
      expect(text).toContain('1200 ms');
      // Answered at the deadline (the worker killed there), not before; within a bound after it.
      expect(took).toBeGreaterThanOrEqual(1200);
      expect(took).toBeLessThan(4000);
      expect(await isRunning(pid!)).toBe(false);
      expect(await s.restarts()).toMatchObject({ timeout: 1 });
      expect(s.deps.limiter.active).toBe(0);
      // The next request waits for the new worker and gets the right frame within the deadline.
      const next = await request(snapshotUrl(s, 'media/v.mp4', 'video/snapshot,t_3100,w_200'));
      expect(next.statusCode).toBe(200);
      expect(await readFrameIndex(Buffer.from(await next.body.arrayBuffer()))).toBe(77);
      const workers = await s.workers();
      expect(workers).toHaveLength(1);
      expect(workers).not.toContain(pid);
      expect(await s.restarts()).toEqual({ timeout: 1 });
    } finally {
      await s.close();
    }
  });
});
