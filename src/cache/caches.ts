// Finished images, in a byte-bounded LRU keyed by the source object's ETag, so a changed object can
// never be answered from stale entries. (Open demuxers live in the capture workers: src/media/engine/.)
import { LRUCache } from 'lru-cache';

export interface CachedImage {
  body: Buffer;
  contentType: string;
  /** Snapshots: which frame came back (absent for processed images). */
  frame: { timeMs: number; keyframe: boolean } | undefined;
}

export interface Caches {
  images: LRUCache<string, CachedImage>;
}

export function createCaches(options: { imageBytes: number }): Caches {
  return {
    images: new LRUCache<string, CachedImage>({
      // lru-cache refuses maxSize 0; a 1-byte cache holds nothing, which is what 0 means.
      maxSize: Math.max(1, options.imageBytes),
      sizeCalculation: (entry) => entry.body.length + 256,
    }),
  };
}

/** Object identity for cache keys: the ETag changes whenever the content does. */
export function objectVersionKey(bucket: string, key: string, etag: string): string {
  return `${bucket}\u0000${key}\u0000${etag}`;
}
