// Two in-process caches: finished images (byte-bounded LRU) and probe results (entry-bounded LRU). Both
// are keyed by the source object's ETag, so a changed object can never be answered from stale entries.
import { LRUCache } from 'lru-cache';
import type { MediaInfo } from '../media/probe.js';

export interface CachedImage {
  body: Buffer;
  contentType: string;
  frameTimeMs: number;
  keyframe: boolean;
}

export interface Caches {
  images: LRUCache<string, CachedImage>;
  probes: LRUCache<string, MediaInfo>;
}

export function createCaches(options: { imageBytes: number; probeEntries: number }): Caches {
  return {
    images: new LRUCache<string, CachedImage>({
      // lru-cache refuses maxSize 0; a 1-byte cache holds nothing, which is what 0 means.
      maxSize: Math.max(1, options.imageBytes),
      sizeCalculation: (entry) => entry.body.length + 256,
    }),
    probes: new LRUCache<string, MediaInfo>({ max: Math.max(1, options.probeEntries) }),
  };
}

/** Object identity for cache keys: the ETag changes whenever the content does. */
export function objectVersionKey(bucket: string, key: string, etag: string): string {
  return `${bucket}\u0000${key}\u0000${etag}`;
}
