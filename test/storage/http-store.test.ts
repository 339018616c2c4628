// The read-only HTTP origin adapter against the shared conformance suite — on the Node test origin and on
// nginx (when installed) — plus origin misbehaviour: no HEAD, Range ignored, redirects, 403, timeouts,
// transient 503s.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createHttpStore } from '../../src/source/http-store.js';
import { storeConformance } from './conformance.js';
import { NGINX, putFile, startNginx } from '../support/storage.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

storeConformance('HTTP origin (Node static server)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-origin-'));
  await mkdir(join(root, 'media'));
  const origin = await startOrigin({ root, prefix: '/files' });
  return {
    store: createHttpStore({ baseUrl: origin.base, timeoutMs: 5000 }),
    bucket: 'media',
    seed: (bucket, key, body) => putFile(root, bucket, key, body),
    writable: false,
    bucketErrors: false,
    env: { STILLFRAME_STORAGE: origin.base },
    async close() {
      await origin.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

if (NGINX) {
  storeConformance('HTTP origin (nginx)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'stillframe-nginx-root-'));
    await mkdir(join(root, 'media'));
    const nginx = await startNginx(root, '/files');
    return {
      store: createHttpStore({ baseUrl: nginx.base, timeoutMs: 5000 }),
      bucket: 'media',
      seed: (bucket, key, body) => putFile(root, bucket, key, body),
      writable: false,
      bucketErrors: false,
      env: { STILLFRAME_STORAGE: nginx.base },
      async close() {
        await nginx.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  });
} else {
  describe.skip('storage conformance: HTTP origin (nginx) — nginx is not installed', () => {});
}

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('HTTP origin adapter', () => {
  let root: string;
  let origin: Origin;
  const body = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  const store = () => createHttpStore({ baseUrl: origin.base, timeoutMs: 500 });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-origin-'));
    await putFile(root, 'media', 'a/b c.txt', body);
    await putFile(root, 'media', 'slow.txt', body);
    origin = await startOrigin({ root, prefix: '/pre/fix' });
  });
  afterAll(async () => {
    await origin.close();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    origin.reset();
    Object.assign(origin.behaviour, { noHead: false, ignoreRange: false, slowMs: 0, failNext: 0 });
    origin.behaviour.redirects.clear();
  });

  it('maps /{bucket}/{key} under the prefix, percent-encoding each segment', async () => {
    const stat = await store().stat('media', 'a/b c.txt');
    expect(stat.size).toBe(body.length);
    expect(origin.requests[0]).toMatchObject({ method: 'HEAD', path: '/pre/fix/media/a/b c.txt' });
  });

  it('takes ETag and Last-Modified from the origin', async () => {
    const res = await fetch(`${origin.base}/media/a/b%20c.txt`, { method: 'HEAD' });
    const stat = await store().stat('media', 'a/b c.txt');
    expect(stat.etag).toBe(res.headers.get('etag'));
    expect(stat.lastModified.toUTCString()).toBe(res.headers.get('last-modified'));
  });

  it('falls back to GET bytes=0-0 when HEAD is not allowed', async () => {
    origin.behaviour.noHead = true;
    const stat = await store().stat('media', 'a/b c.txt');
    expect(stat.size).toBe(body.length);
    expect(origin.requests.map((r) => [r.method, r.status])).toEqual([['HEAD', 405], ['GET', 206]]);
  });

  it('still returns exactly the range when the origin ignores Range', async () => {
    origin.behaviour.ignoreRange = true;
    expect((await bytes(await store().read('media', 'a/b c.txt', { start: 5, end: 9 }))).toString()).toBe('56789');
  });

  it('follows redirects that stay on the origin', async () => {
    origin.behaviour.redirects.set('/pre/fix/media/moved.txt', '/pre/fix/media/a/b%20c.txt');
    expect((await bytes(await store().read('media', 'moved.txt'))).equals(body)).toBe(true);
  });

  it('refuses a redirect to another host (502) without contacting it', async () => {
    const other = await startOrigin({ root, prefix: '/pre/fix' });
    try {
      origin.behaviour.redirects.set('/pre/fix/media/away.txt', `${other.base}/media/a/b%20c.txt`);
      const err = await failure(store().stat('media', 'away.txt'));
      expect([err.status, err.code]).toEqual([502, 'BadGateway']);
      expect(err.message).toContain('another host');
      expect(other.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('bounds the number of redirects', async () => {
    origin.behaviour.redirects.set('/pre/fix/media/loop.txt', '/pre/fix/media/loop.txt');
    const err = await failure(store().stat('media', 'loop.txt'));
    expect(err.status).toBe(502);
    expect(origin.requests.length).toBeLessThanOrEqual(4);
  });

  it('403 → AccessDenied, 404 → NoSuchKey', async () => {
    await putFile(root, 'media', 'private/x.txt', 'x');
    expect((await failure(store().stat('media', 'private/x.txt'))).code).toBe('AccessDenied');
    expect((await failure(store().read('media', 'nope.txt'))).code).toBe('NoSuchKey');
  });

  it('an origin slower than the timeout → 504 GatewayTimeout', async () => {
    origin.behaviour.slowMs = 2000;
    const err = await failure(store().stat('media', 'slow.txt'));
    expect([err.status, err.code]).toEqual([504, 'GatewayTimeout']);
  });

  it('retries idempotent requests after a transient 503', async () => {
    origin.behaviour.failNext = 1;
    expect((await store().stat('media', 'a/b c.txt')).size).toBe(body.length);
    expect(origin.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('an unreachable origin → 502', async () => {
    const err = await failure(createHttpStore({ baseUrl: 'http://127.0.0.1:9/x', timeoutMs: 500 }).stat('media', 'a.mp4'));
    expect(err.status).toBe(502);
  });

  it('is read-only and says so; its description carries no credentials', async () => {
    const s = createHttpStore({ baseUrl: 'https://user:secret@origin.example.com/prefix', timeoutMs: 500 });
    expect(s.readOnly).toBe(true);
    expect(s.description).toBe('https://origin.example.com/prefix');
    const err = await failure(s.write('media', 'x.txt', Buffer.from('x')));
    expect([err.status, err.code]).toEqual([405, 'MethodNotAllowed']);
  });
});
