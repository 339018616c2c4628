// Origin failures reach the client as clear statuses, whether they happen at stat time or while a capture
// worker reads through the read bridge: 404 → NoSuchKey, 403 → AccessDenied, timeout → 504, a broken
// origin → 502; transient 503s are retried. Never "400 not media" for an origin's fault.
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixture, longTailMoovFixture, readFrameIndex } from '../support/fixtures.js';
import { putFile, startS3, type S3Server } from '../support/storage.js';
import { startServer, type TestServer } from '../support/server.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

async function get(app: TestServer, path: string): Promise<{ status: number; code: string | undefined; body: Buffer }> {
  const res = await fetch(`${app.url}/${path}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(body.toString())?.[1], body };
}

describe('HTTP origin failures', () => {
  let root: string;
  let origin: Origin;
  let app: TestServer;
  const snap = (key: string) => get(app, `media/${key}?x-oss-process=video/snapshot,t_1000,f_png`);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-origin-errors-'));
    // The long fixture (~188 MB, made once and cached) is made here, not inside a test's 60 s: on a fresh
    // clone of a loaded machine making it takes longer than that.
    await mkdir(join(root, 'media'), { recursive: true });
    await symlink((await longTailMoovFixture()).path, join(root, 'media', 'midway.mp4'));
    const video = await readFile(await fixture({ container: 'mp4', codec: 'h264' }));
    for (const key of ['ok.mp4', 'private/secret.mp4', 'get403.mp4', 'get404.mp4', 'getslow.mp4', 'get500.mp4', 'flaky.mp4']) {
      await putFile(root, 'media', key, video);
    }
    origin = await startOrigin({ root, prefix: '/o' });
    app = await startServer({ env: { STILLFRAME_STORAGE: origin.base, STILLFRAME_ORIGIN_TIMEOUT_MS: '400' } });
  }, 600_000);
  afterAll(async () => {
    await app?.close();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    origin.behaviour.getFault = undefined;
    origin.behaviour.failNext = 0;
  });

  it('a working object snapshots', async () => {
    const res = await snap('ok.mp4');
    expect(res.status).toBe(200);
    expect(await readFrameIndex(res.body)).toBe(25);
  });

  it('missing at the origin → 404 NoSuchKey', async () => {
    expect(await snap('nothing-here.mp4')).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(await get(app, 'media/nothing-here.mp4')).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('forbidden at the origin → 403 AccessDenied', async () => {
    expect(await snap('private/secret.mp4')).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await get(app, 'media/private/secret.mp4')).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('the origin refusing the reads a worker makes → 403 AccessDenied, not "not media"', async () => {
    origin.behaviour.getFault = { match: 'get403', status: 403 };
    expect(await snap('get403.mp4')).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('the object vanishing while a worker reads it → 404 NoSuchKey', async () => {
    origin.behaviour.getFault = { match: 'get404', status: 404 };
    expect(await snap('get404.mp4')).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('an origin slower than STILLFRAME_ORIGIN_TIMEOUT_MS while a worker reads → 504 GatewayTimeout', async () => {
    origin.behaviour.getFault = { match: 'getslow', delayMs: 1500 };
    expect(await snap('getslow.mp4')).toMatchObject({ status: 504, code: 'GatewayTimeout' });
  });

  it('an origin failing every read → 502 BadGateway after retries', async () => {
    origin.behaviour.getFault = { match: 'get500', status: 500 };
    expect(await snap('get500.mp4')).toMatchObject({ status: 502, code: 'BadGateway' });
    expect(origin.requests.filter((r) => r.path.includes('get500') && r.method === 'GET').length).toBeGreaterThanOrEqual(3);
  });

  it('an origin failing in the middle of what a worker reads → 502 at once (not a timeout, not "not media")', async () => {
    // 1 s of the 5 Mbit/s fixture spans several blocks: the decoder reads past its first window.
    const url = (t: number) => `${app.url}/media/midway.mp4?x-oss-process=video/snapshot,t_${t},f_jpg,w_320`;
    expect((await fetch(url(0))).status).toBe(200);
    origin.behaviour.getFault = { match: 'midway', status: 500, fromByte: 256 * 1024 };
    const started = Date.now();
    const res = await fetch(url(1000));
    expect(await res.text()).toContain('<Code>BadGateway</Code>');
    expect(res.status).toBe(502);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an origin that resets its connections while a worker reads → 502, and stalls and resets leave no capture running', async () => {
    await putFile(root, 'media', 'reset.mp4', await readFile(await fixture({ container: 'mp4', codec: 'h264' })));
    origin.behaviour.getFault = { match: 'reset', reset: true };
    expect(await snap('reset.mp4')).toMatchObject({ status: 502, code: 'BadGateway' });
    // Several stalled, then several reset requests at once: each answered, none pins a capture slot.
    const burst = (key: string) => Promise.all([1, 2, 3].map((i) => get(app, `media/${key}?x-oss-process=video/snapshot,t_${100 * i},f_png`)));
    origin.behaviour.getFault = { match: 'getslow', delayMs: 1500 };
    for (const res of await burst('getslow.mp4')) expect([res.status, res.code]).toEqual([504, 'GatewayTimeout']);
    origin.behaviour.getFault = { match: 'reset', reset: true };
    for (const res of await burst('reset.mp4')) expect([res.status, res.code]).toEqual([502, 'BadGateway']);
    expect(app.deps.limiter.active).toBe(0);
    origin.behaviour.getFault = undefined;
    expect((await snap('ok.mp4')).status).toBe(200);
  });

  it('transient 503s are retried', async () => {
    origin.behaviour.failNext = 1;
    const res = await snap('flaky.mp4');
    expect(res.status).toBe(200);
  });
});

describe('S3 failures', () => {
  let s3: S3Server;
  let app: TestServer;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('media');
    app = await startServer({ env: s3.env });
  });
  afterAll(async () => {
    await app?.close();
    await s3?.close();
  });

  it('missing key → 404 NoSuchKey; missing bucket → 404 NoSuchBucket', async () => {
    expect(await get(app, 'media/none.mp4?x-oss-process=video/snapshot,t_0')).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(await get(app, 'nobucket/none.mp4?x-oss-process=video/snapshot,t_0')).toMatchObject({ status: 404, code: 'NoSuchBucket' });
    expect(await get(app, 'nobucket/none.mp4')).toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it('wrong credentials → 403 AccessDenied', async () => {
    const denied = await startServer({ env: { ...s3.env, AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG' } });
    try {
      await s3.put('media', 'x.mp4', 'not a video');
      expect(await get(denied, 'media/x.mp4')).toMatchObject({ status: 403, code: 'AccessDenied' });
    } finally {
      await denied.close();
    }
  });
});
