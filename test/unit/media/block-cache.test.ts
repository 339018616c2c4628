// The block cache the capture workers read remote objects through (over the read bridge): exact bytes, coalesced origin reads, growing runs
// for sequential readers, a byte bound, versions kept apart by ETag, and retries only where safe.
import { describe, expect, it } from 'vitest';
import { type AppError, errors } from '../../../src/errors.js';
import { createBlockCache, type ObjectVersion } from '../../../src/media/block-cache.js';

const KB = 1024;

function backend(size: number) {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
  const calls: [number, number][] = [];
  let fail: (() => unknown) | undefined;
  return {
    data,
    calls,
    failWith(f: (() => unknown) | undefined) {
      fail = f;
    },
    fetch: async (_o: ObjectVersion, start: number, end: number) => {
      calls.push([start, end]);
      await new Promise((r) => setTimeout(r, 2));
      if (fail) {
        const err = fail();
        if (err) throw err;
      }
      return Buffer.from(data.subarray(start, end + 1));
    },
  };
}

const object = (size: number, etag = '"v1"'): ObjectVersion => ({ bucket: 'b', key: 'k', etag, size });

describe('block cache', () => {
  it('returns exactly the bytes asked for, across block edges and at the end of the object', async () => {
    const b = backend(1000 * KB + 123);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, fetch: b.fetch });
    const o = object(b.data.length);
    for (const [start, end] of [[0, 0], [10, 64 * KB], [64 * KB - 1, 64 * KB], [300 * KB, 700 * KB + 5], [b.data.length - 10, b.data.length - 1]] as const) {
      expect((await cache.read(o, start, end)).equals(b.data.subarray(start, end + 1))).toBe(true);
    }
  });

  it('reads each block from the origin once; concurrent readers share one request', async () => {
    const b = backend(512 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, fetch: b.fetch });
    const o = object(b.data.length);
    await Promise.all(Array.from({ length: 10 }, () => cache.read(o, 70 * KB, 80 * KB)));
    expect(b.calls).toEqual([[64 * KB, 128 * KB - 1]]);
    await cache.read(o, 64 * KB, 100 * KB);
    expect(b.calls).toHaveLength(1);
    expect(cache.stats.originBytes).toBe(64 * KB);
  });

  it('a sequential reader fetches growing runs (fewer requests), never past what it asked for', async () => {
    const b = backend(2048 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, maxRunBlocks: 4, fetch: b.fetch });
    const o = object(b.data.length);
    const got: Buffer[] = [];
    for await (const chunk of cache.stream(o, 0, 2048 * KB - 1)) got.push(chunk);
    expect(Buffer.concat(got).equals(b.data)).toBe(true);
    expect(b.calls.length).toBeLessThanOrEqual(9);
    expect(cache.stats.originBytes).toBe(2048 * KB);
  });

  it('a reader that stops early leaves at most one read-ahead run behind', async () => {
    const b = backend(4096 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, maxRunBlocks: 4, fetch: b.fetch });
    const blocks = cache.stream(object(b.data.length), 0, 4096 * KB - 1);
    for (let i = 0; i < 6; i++) await blocks.next();
    await blocks.return();
    await new Promise((r) => setTimeout(r, 20));
    expect(cache.stats.originBytes).toBeLessThanOrEqual((6 + 4) * 64 * KB);
  });

  it('stays within its byte bound', async () => {
    const b = backend(2048 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 256 * KB, fetch: b.fetch });
    await cache.read(object(b.data.length), 0, 2048 * KB - 1);
    expect(cache.size).toBeLessThanOrEqual(256 * KB);
  });

  it('keeps versions apart: a new ETag reads the origin again', async () => {
    const b = backend(128 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, fetch: b.fetch });
    await cache.read(object(b.data.length, '"v1"'), 0, 100);
    await cache.read(object(b.data.length, '"v2"'), 0, 100);
    expect(b.calls).toHaveLength(2);
  });

  it('retries network errors and 502s, not 404s or a changed object', async () => {
    const b = backend(128 * KB);
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 10 * 1024 * KB, fetch: b.fetch, retryDelayMs: 1 });
    let n = 0;
    b.failWith(() => (n++ < 2 ? Object.assign(new Error('reset'), { code: 'ECONNRESET' }) : undefined));
    expect((await cache.read(object(b.data.length), 0, 9)).equals(b.data.subarray(0, 10))).toBe(true);
    expect(b.calls).toHaveLength(3);

    for (const err of [errors.noSuchKey('k'), errors.objectChanged('k'), errors.originTimeout('slow')]) {
      b.calls.length = 0;
      b.failWith(() => err);
      const got = await cache.read(object(b.data.length, `"${err.code}"`), 0, 9).catch((e: unknown) => e);
      expect(got).toBe(err);
      expect(b.calls).toHaveLength(1);
    }
    b.calls.length = 0;
    b.failWith(() => errors.originFailed('down'));
    const got = await cache.read(object(b.data.length, '"down"'), 0, 9).catch((e: unknown) => e);
    expect((got as AppError).status).toBe(502);
    expect(b.calls).toHaveLength(3);
  });

  it('a short answer from the origin is an error, not a short block', async () => {
    const cache = createBlockCache({ blockSize: 64 * KB, maxBytes: 1024 * KB, retries: 0, fetch: async () => Buffer.alloc(10) });
    const err = await cache.read(object(128 * KB), 0, 100).catch((e: unknown) => e);
    expect((err as AppError).status).toBe(502);
  });
});
