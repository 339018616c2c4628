// A snapshot of a large remote video costs a tiny fraction of its bytes: 300 s of 1080p (~188 MB) with
// the `moov` index at the END, on a real HTTP origin and a real S3 server, bytes measured at the origin.
// First snapshot ≤ 3 % of the object (index + one GOP), a second one at another time ≤ 1 % (the index is
// cached by ETag), and a changed ETag makes the index be read again.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, symlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longTailMoovFixture, readFrameIndex, type LongFixture } from '../support/fixtures.js';
import { startS3, type S3Server } from '../support/storage.js';
import { startServer, type TestServer } from '../support/server.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

interface Measured {
  index: number;
  bytes: number;
  requests: number;
}

const FIRST_SHARE = 0.03;
const REPEAT_SHARE = 0.01;

async function snapshot(app: TestServer, object: string, t: number): Promise<number> {
  const res = await fetch(`${app.url}/${object}?x-oss-process=video/snapshot,t_${t},f_jpg,w_480`);
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, body.toString().slice(0, 300)).toBe(200);
  return readFrameIndex(body);
}

let long: LongFixture;
let size: number;
beforeAll(async () => {
  long = await longTailMoovFixture();
  size = (await stat(long.path)).size;
}, 600_000);

describe('HTTP origin: 300 s 1080p MP4 with the index at the end', () => {
  let root: string;
  let origin: Origin;
  let app: TestServer;
  const measure = async (t: number): Promise<Measured> => {
    origin.reset();
    const index = await snapshot(app, 'videos/long.mp4', t);
    return { index, bytes: origin.bytes(), requests: origin.requests.length };
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-long-'));
    await mkdir(join(root, 'videos'));
    await symlink(long.path, join(root, 'videos', 'long.mp4'));
    origin = await startOrigin({ root, prefix: '/media' });
    app = await startServer({ env: { STILLFRAME_STORAGE: origin.base } });
  });
  afterAll(async () => {
    await app?.close();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the first snapshot (minute 4) reads ≤ 3 % of the object and the right frame', async () => {
    const first = await measure(240_000);
    expect(first.index).toBe(240 * long.fps);
    expect(first.bytes).toBeLessThanOrEqual(FIRST_SHARE * size);
    // The index lies at the end: it was read, and nothing of the 150 MB between it and the GOP.
    expect(origin.requests.some((r) => r.range && Number(/bytes=(\d+)/.exec(r.range)?.[1]) > size - 1024 * 1024)).toBe(true);
  });

  it('a second snapshot at another time reads ≤ 1 % (the index is cached by ETag)', async () => {
    const second = await measure(150_500);
    expect(second.index).toBe(Math.floor(150.5 * long.fps));
    expect(second.bytes).toBeLessThanOrEqual(REPEAT_SHARE * size);
    expect(origin.requests.some((r) => r.range && Number(/bytes=(\d+)/.exec(r.range)?.[1]) > size - 1024 * 1024)).toBe(false);
  });

  it('the same snapshot again costs nothing at the origin: the result cache, and the source stat trusted for STILLFRAME_SOURCE_REVALIDATE_MS', async () => {
    const again = await measure(150_500);
    expect(again.index).toBe(Math.floor(150.5 * long.fps));
    expect(again.bytes).toBe(0);
    expect(origin.requests.map((r) => r.method)).toEqual([]);
  });

  it('a new ETag at the origin invalidates the cached index', async () => {
    const later = new Date(Date.now() + 60_000);
    await utimes(long.path, later, later);
    const changed = await measure(60_000);
    expect(changed.index).toBe(60 * long.fps);
    expect(origin.requests.some((r) => r.range && Number(/bytes=(\d+)/.exec(r.range)?.[1]) > size - 1024 * 1024)).toBe(true);
    expect(changed.bytes).toBeLessThanOrEqual(FIRST_SHARE * size);
  });
});

describe('S3 (s3rver): the same object', () => {
  let s3: S3Server;
  let app: TestServer;
  const measure = async (t: number): Promise<Measured> => {
    s3.counter.reset();
    const index = await snapshot(app, 'videos/long.mp4', t);
    return { index, bytes: s3.counter.bytes(), requests: s3.counter.requests.length };
  };

  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('videos');
    await s3.client.send(new PutObjectCommand({ Bucket: 'videos', Key: 'long.mp4', Body: createReadStream(long.path), ContentLength: size }));
    app = await startServer({ env: s3.env });
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await s3?.close();
  });

  it('first snapshot ≤ 3 %, a second at another time ≤ 1 %, both the right frame', async () => {
    const first = await measure(240_000);
    expect(first.index).toBe(240 * long.fps);
    expect(first.bytes).toBeLessThanOrEqual(FIRST_SHARE * size);
    const second = await measure(150_500);
    expect(second.index).toBe(Math.floor(150.5 * long.fps));
    expect(second.bytes).toBeLessThanOrEqual(REPEAT_SHARE * size);
  });
});
