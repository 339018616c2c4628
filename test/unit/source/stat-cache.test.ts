// The stat cache in front of the store: a source's ETag is revalidated at most once per interval.
import { describe, expect, it } from 'vitest';
import { errors } from '../../../src/errors.js';
import { createStatCache } from '../../../src/source/stat-cache.js';
import type { ObjectStat, ObjectStore } from '../../../src/source/store.js';

function fakeStore() {
  let version = 1;
  let calls = 0;
  let fail = false;
  let delayMs = 0;
  const stat = (): ObjectStat => ({ size: 10, etag: `"v${version}"`, lastModified: new Date(0), contentType: 'video/mp4' });
  const store: ObjectStore = {
    description: 'fake',
    async stat(_bucket, key) {
      calls++;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (fail) throw errors.noSuchKey(key);
      return stat();
    },
    async read() {
      throw new Error('unused');
    },
    async write() {
      version++;
      return stat();
    },
  };
  return {
    store,
    calls: () => calls,
    rewrite: () => void version++,
    failing: (on: boolean) => {
      fail = on;
    },
    slow: (ms: number) => {
      delayMs = ms;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stat cache', () => {
  it('asks the store once per interval; a rewritten object shows its new ETag once the interval is over', async () => {
    const f = fakeStore();
    const lookups: boolean[] = [];
    const stats = createStatCache(f.store, { ttlMs: 150, onLookup: (hit) => lookups.push(hit) });
    expect((await stats.stat('b', 'k')).etag).toBe('"v1"');
    f.rewrite(); // by another writer, behind the server's back
    for (let i = 0; i < 50; i++) expect((await stats.stat('b', 'k')).etag).toBe('"v1"');
    expect(f.calls()).toBe(1);
    await sleep(170);
    expect((await stats.stat('b', 'k')).etag).toBe('"v2"');
    expect(f.calls()).toBe(2);
    expect(lookups.filter((hit) => !hit)).toHaveLength(2);
    expect(lookups.filter((hit) => hit)).toHaveLength(50);
  });

  it('objects are cached separately', async () => {
    const f = fakeStore();
    const stats = createStatCache(f.store, { ttlMs: 10_000 });
    await stats.stat('b', 'k1');
    await stats.stat('b', 'k2');
    await stats.stat('c', 'k1');
    await stats.stat('b', 'k1');
    expect(f.calls()).toBe(3);
  });

  it('a write through the server is seen at once; forget() drops one object', async () => {
    const f = fakeStore();
    const stats = createStatCache(f.store, { ttlMs: 10_000 });
    expect((await stats.stat('b', 'k')).etag).toBe('"v1"');
    await stats.store.write('b', 'k', Buffer.from('x'));
    expect((await stats.stat('b', 'k')).etag).toBe('"v2"');
    f.rewrite();
    stats.forget('b', 'k');
    expect((await stats.stat('b', 'k')).etag).toBe('"v3"');
  });

  it('concurrent lookups share one stat; failures are not remembered', async () => {
    const f = fakeStore();
    f.slow(30);
    const stats = createStatCache(f.store, { ttlMs: 10_000 });
    const all = await Promise.all(Array.from({ length: 20 }, () => stats.stat('b', 'k')));
    expect(new Set(all.map((s) => s.etag))).toEqual(new Set(['"v1"']));
    expect(f.calls()).toBe(1);

    f.failing(true);
    await expect(stats.stat('b', 'gone')).rejects.toMatchObject({ code: 'NoSuchKey' });
    f.failing(false);
    expect((await stats.stat('b', 'gone')).etag).toBe('"v1"');
  });

  it('0 = the store on every request', async () => {
    const f = fakeStore();
    const stats = createStatCache(f.store, { ttlMs: 0 });
    for (let i = 0; i < 5; i++) await stats.stat('b', 'k');
    expect(f.calls()).toBe(5);
  });

  it('stays bounded: the oldest entries go first', async () => {
    const f = fakeStore();
    const stats = createStatCache(f.store, { ttlMs: 10_000, maxEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd']) await stats.stat('x', k);
    expect(f.calls()).toBe(4);
    await stats.stat('x', 'd');
    await stats.stat('x', 'b');
    expect(f.calls()).toBe(4);
    await stats.stat('x', 'a'); // evicted by d
    expect(f.calls()).toBe(5);
  });
});
