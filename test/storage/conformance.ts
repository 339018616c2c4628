// The storage conformance suite: what every ObjectStore adapter must do, registered as vitest tests for
// any adapter. Each run gets a real backend (a directory, s3rver, an HTTP origin) and a stillframe server
// built from settings over the same storage, so the adapter is tested alone and through HTTP and the capture workers.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { ObjectStore } from '../../src/source/store.js';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';

export interface StoreUnderTest {
  store: ObjectStore;
  /** An existing bucket. */
  bucket: string;
  /** Puts bytes at bucket/key bypassing the adapter (the way other writers change objects). */
  seed(bucket: string, key: string, body: Buffer): Promise<void>;
  /** write() stores objects (false: it must refuse with 405). */
  writable: boolean;
  /** A missing bucket is told apart from a missing key (an HTTP origin cannot). */
  bucketErrors: boolean;
  /** Settings for a stillframe server over the same storage. */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function text(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function appError(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

export function storeConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`storage conformance: ${name}`, () => {
    let t: StoreUnderTest;
    let app: TestServer;
    const body = randomBytes(300_000);
    const key = `conformance/${randomBytes(4).toString('hex')}/object one.bin`;

    beforeAll(async () => {
      t = await open();
      await t.seed(t.bucket, key, body);
      app = await startServer({ env: t.env });
    });
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    describe('adapter', () => {
      it('stat: size, a quoted strong ETag, Last-Modified, a content type', async () => {
        const stat = await t.store.stat(t.bucket, key);
        expect(stat.size).toBe(body.length);
        expect(stat.etag).toMatch(/^"[^"]+"$/);
        expect(stat.lastModified).toBeInstanceOf(Date);
        expect(Number.isFinite(stat.lastModified.getTime())).toBe(true);
        expect(stat.contentType).toBeTruthy();
      });

      it('the ETag is stable while the object is unchanged, and changes with it', async () => {
        const k = `${key}.etag`;
        await t.seed(t.bucket, k, Buffer.from('version one'));
        const a = await t.store.stat(t.bucket, k);
        const b = await t.store.stat(t.bucket, k);
        expect(b.etag).toBe(a.etag);
        await new Promise((r) => setTimeout(r, 1100)); // second-resolution Last-Modified origins
        await t.seed(t.bucket, k, Buffer.from('version two!'));
        const c = await t.store.stat(t.bucket, k);
        expect(c.etag).not.toBe(a.etag);
        expect(c.size).toBe(12);
      });

      it('reads the whole object', async () => {
        expect((await text(await t.store.read(t.bucket, key))).equals(body)).toBe(true);
      });

      it.each([
        [0, 0],
        [1, 1000],
        [123_456, 234_567],
        [299_999, 299_999],
        [250_000, 299_999],
      ])('reads the byte range %i-%i', async (start, end) => {
        const got = await text(await t.store.read(t.bucket, key, { start, end }));
        expect(got.equals(body.subarray(start, end + 1))).toBe(true);
      });

      it('a read pinned to the current ETag succeeds; to a stale one fails with 412 PreconditionFailed', async () => {
        const stat = await t.store.stat(t.bucket, key);
        const got = await text(await t.store.read(t.bucket, key, { start: 10, end: 19 }, { ifMatch: stat.etag }));
        expect(got.equals(body.subarray(10, 20))).toBe(true);
        const err = await appError(t.store.read(t.bucket, key, { start: 10, end: 19 }, { ifMatch: '"not-this-version"' }).then(text));
        expect([err.status, err.code]).toEqual([412, 'PreconditionFailed']);
      });

      it('a missing key is 404 NoSuchKey (stat and read)', async () => {
        for (const op of [() => t.store.stat(t.bucket, 'no/such/key.mp4'), () => t.store.read(t.bucket, 'no/such/key.mp4')]) {
          const err = await appError(op());
          expect([err.status, err.code]).toEqual([404, 'NoSuchKey']);
        }
      });

      it('a missing bucket is 404 (NoSuchBucket where the backend can tell)', async () => {
        const err = await appError(t.store.stat('no-such-bucket-here', 'x.mp4'));
        expect(err.status).toBe(404);
        expect(err.code).toBe(t.bucketErrors ? 'NoSuchBucket' : 'NoSuchKey');
      });

      it('invalid bucket names and keys are 400 before any request', async () => {
        expect((await appError(t.store.stat('Bad_Bucket', 'x'))).code).toBe('InvalidBucketName');
        expect((await appError(t.store.stat(t.bucket, '../x'))).code).toBe('InvalidObjectName');
        expect((await appError(t.store.read(t.bucket, 'a//b'))).code).toBe('InvalidObjectName');
      });

      it('concurrent ranged reads each get their own bytes', async () => {
        const ranges = Array.from({ length: 24 }, (_, i) => ({ start: i * 12_000, end: i * 12_000 + 9_999 + (i % 3) }));
        const got = await Promise.all(ranges.map((r) => t.store.read(t.bucket, key, r).then(text)));
        for (const [i, bytes] of got.entries()) expect(bytes.equals(body.subarray(ranges[i]!.start, ranges[i]!.end + 1))).toBe(true);
      });

      it('write then read (buffer and stream), replacing atomically; or refuses when read-only', async () => {
        const k = `${key}.written`;
        if (!t.writable) {
          const err = await appError(t.store.write(t.bucket, k, Buffer.from('x')));
          expect(err.status).toBe(405);
          expect(t.store.readOnly).toBe(true);
          return;
        }
        const first = await t.store.write(t.bucket, k, Buffer.from('first body'), 'text/plain');
        expect(first.size).toBe(10);
        expect((await text(await t.store.read(t.bucket, k))).toString()).toBe('first body');
        const big = randomBytes(6 * 1024 * 1024 + 17);
        const second = await t.store.write(t.bucket, k, Readable.from([big.subarray(0, 1_000_000), big.subarray(1_000_000)]));
        expect(second.size).toBe(big.length);
        expect(second.etag).not.toBe(first.etag);
        expect((await t.store.stat(t.bucket, k)).etag).toBe(second.etag);
        expect((await text(await t.store.read(t.bucket, k))).equals(big)).toBe(true);
      });
    });

    describe('through the server', () => {
      const objectUrl = () => `${app.url}/${t.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

      it('GET with Range → 206 with the bytes; HEAD → headers only', async () => {
        const res = await fetch(objectUrl(), { headers: { range: 'bytes=100-199' } });
        expect(res.status).toBe(206);
        expect(res.headers.get('content-range')).toBe(`bytes 100-199/${body.length}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(body.subarray(100, 200))).toBe(true);
        const head = await fetch(objectUrl(), { method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(body.length));
        expect(head.headers.get('etag')).toBe((await t.store.stat(t.bucket, key)).etag);
      });

      it('If-None-Match / If-Modified-Since → 304; If-Match with another ETag → 412', async () => {
        const res = await fetch(objectUrl());
        await res.arrayBuffer();
        const etag = res.headers.get('etag')!;
        const lastModified = res.headers.get('last-modified')!;
        expect((await fetch(objectUrl(), { headers: { 'if-none-match': etag } })).status).toBe(304);
        expect((await fetch(objectUrl(), { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
        expect((await fetch(objectUrl(), { headers: { 'if-match': '"other"' } })).status).toBe(412);
      });

      it('a missing key → 404 NoSuchKey in the OSS XML body', async () => {
        const res = await fetch(`${app.url}/${t.bucket}/missing/object.mp4?x-oss-process=video/snapshot,t_0`);
        expect(res.status).toBe(404);
        expect(await res.text()).toContain('<Code>NoSuchKey</Code>');
      });

      it('snapshots read the right frame through the adapter, and a changed object is read anew', async () => {
        const video = `${key}.mp4`;
        await t.seed(t.bucket, video, await readFile(await fixture({ container: 'mp4', codec: 'h264' })));
        const url = `${app.url}/${t.bucket}/${video.split('/').map(encodeURIComponent).join('/')}?x-oss-process=video/snapshot,t_1000,f_png`;
        const first = await fetch(url);
        expect(first.status).toBe(200);
        expect(await readFrameIndex(Buffer.from(await first.arrayBuffer()))).toBe(25);
        await new Promise((r) => setTimeout(r, 1100));
        // Same name, other content (30 fps): the frame at 1 s is now frame 30.
        await t.seed(t.bucket, video, await readFile(await fixture({ container: 'mp4', codec: 'h264', fps: 30 })));
        const second = await fetch(url);
        expect(second.status).toBe(200);
        expect(second.headers.get('etag')).not.toBe(first.headers.get('etag'));
        expect(await readFrameIndex(Buffer.from(await second.arrayBuffer()))).toBe(30);
      });
    });
  });
}
