// Source revalidation at most once per interval: a cached snapshot hit needs the source's ETag (it is
// part of the cache key and of the answer's ETag), and asking the store for it on every request was the
// largest single cost of a hit (a stat with a path walk on disk, a HEAD on S3/HTTP origins). A stat is
// trusted for `ttlMs` (STILLFRAME_SOURCE_REVALIDATE_MS), so an object rewritten by another writer shows
// its new ETag within that interval; writes through this server are seen at once (write() forgets the
// entry). Concurrent lookups of one object share one stat; failures are never remembered.
import type { ObjectStat, ObjectStore } from './store.js';

export interface StatCache {
  /** The object's stat, at most `ttlMs` old. */
  stat(bucket: string, key: string): Promise<ObjectStat>;
  /** Drops what is known about the object: the next stat() asks the store. */
  forget(bucket: string, key: string): void;
  /** The store with write() forgetting the written object. */
  readonly store: ObjectStore;
  readonly ttlMs: number;
}

export interface StatCacheOptions {
  ttlMs: number;
  /** Objects remembered at most; the oldest go first. */
  maxEntries?: number;
  /** Each stat() with whether it was answered from memory. */
  onLookup?: (hit: boolean) => void;
}

export function createStatCache(store: ObjectStore, options: StatCacheOptions): StatCache {
  const { ttlMs, onLookup } = options;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, { stat: Promise<ObjectStat>; until: number }>();
  const id = (bucket: string, key: string) => `${bucket}/${key}`;
  const forget = (bucket: string, key: string) => void entries.delete(id(bucket, key));

  return {
    ttlMs,
    forget,
    stat(bucket, key) {
      if (ttlMs <= 0) return store.stat(bucket, key);
      const k = id(bucket, key);
      const now = Date.now();
      const known = entries.get(k);
      if (known && known.until > now) {
        onLookup?.(true);
        return known.stat;
      }
      onLookup?.(false);
      if (known) entries.delete(k);
      else if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      const stat = store.stat(bucket, key);
      const entry = { stat, until: now + ttlMs };
      // Re-inserted, so Map order is age order for the eviction above.
      entries.set(k, entry);
      stat.catch(() => {
        if (entries.get(k) === entry) entries.delete(k);
      });
      return stat;
    },
    store: {
      ...store,
      async write(bucket, key, body, contentType) {
        try {
          return await store.write(bucket, key, body, contentType);
        } finally {
          forget(bucket, key);
        }
      },
    },
  };
}
