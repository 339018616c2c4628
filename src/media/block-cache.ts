// Remote objects (S3, HTTP origins) are read by ffmpeg through fixed-size blocks kept in an LRU bounded
// in bytes and keyed by (bucket, key, ETag, block): a snapshot of a tail-`moov` MP4 fetches the index
// blocks once and afterwards only the blocks of the GOP it decodes. A changed object has another ETag,
// so stale blocks are never served (and age out of the LRU).
//  - Concurrent readers of the same block share one origin request (coalescing).
//  - A reader that streams sequentially fetches growing runs of consecutive blocks in one origin request
//    (1, 2, 4 … maxRunBlocks) and starts the next run while it consumes the current one (read-ahead);
//    a reader that only peeks (ffmpeg reading a box header, then seeking) costs one block.
//  - Fetches are retried when that is safe: the request is an idempotent ranged GET of a pinned version,
//    and the failure is a network error or a 5xx (never a 4xx, a changed object or a timeout).
import { LRUCache } from 'lru-cache';
import { AppError, errors } from '../errors.js';

export interface ObjectVersion {
  bucket: string;
  key: string;
  etag: string;
  size: number;
}

export interface BlockCacheOptions {
  blockSize: number;
  maxBytes: number;
  /** Most blocks one origin request fetches (a sequential reader's run grows up to this). */
  maxRunBlocks?: number;
  /** Bytes [start, end] (inclusive) of exactly this version of the object. */
  fetch: (object: ObjectVersion, start: number, end: number) => Promise<Buffer>;
  /** Retries of a failed fetch (network error, 5xx). */
  retries?: number;
  retryDelayMs?: number;
  /** Called after each successful origin read, with its size (metrics). */
  onFetch?: (bytes: number) => void;
}

export interface BlockCacheStats {
  hits: number;
  misses: number;
  originRequests: number;
  originBytes: number;
}

export interface BlockCache {
  readonly blockSize: number;
  /** Bytes held. */
  readonly size: number;
  readonly stats: BlockCacheStats;
  /** Bytes [start, end] (inclusive) of the object, as consecutive slices of cached blocks. */
  stream(object: ObjectVersion, start: number, end: number): AsyncGenerator<Buffer, void, undefined>;
  /** Bytes [start, end] (inclusive) in one buffer (small reads: playlists, sniffing). */
  read(object: ObjectVersion, start: number, end: number): Promise<Buffer>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Safe to repeat: the request is a ranged GET of one version; the failure says nothing about the object. */
function retryable(err: unknown): boolean {
  if (err instanceof AppError) return err.status === 502 || err.status === 503;
  return !(err instanceof Error && err.name === 'AbortError');
}

export function createBlockCache(options: BlockCacheOptions): BlockCache {
  const { blockSize } = options;
  const maxRun = Math.max(1, options.maxRunBlocks ?? 4);
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 100;
  const blocks = new LRUCache<string, Buffer>({
    // lru-cache refuses maxSize 0; a 1-byte cache holds nothing, which is what 0 means.
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (block) => Math.max(1, block.length),
  });
  const inflight = new Map<string, Promise<Buffer>>();
  const stats: BlockCacheStats = { hits: 0, misses: 0, originRequests: 0, originBytes: 0 };

  const idOf = (o: ObjectVersion, index: number) => `${o.bucket}\u0000${o.key}\u0000${o.etag}\u0000${index}`;
  const lastBlock = (o: ObjectVersion) => Math.max(0, Math.ceil(o.size / blockSize) - 1);
  const present = (o: ObjectVersion, index: number) => blocks.has(idOf(o, index)) || inflight.has(idOf(o, index));

  async function fetchWithRetry(o: ObjectVersion, start: number, end: number): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      try {
        stats.originRequests++;
        const data = await options.fetch(o, start, end);
        stats.originBytes += data.length;
        options.onFetch?.(data.length);
        if (data.length !== end - start + 1) {
          throw errors.shortRead(data.length, end - start + 1);
        }
        return data;
      } catch (err) {
        if (attempt >= retries || !retryable(err)) throw err;
        await sleep(retryDelayMs * 2 ** attempt);
      }
    }
  }

  /** Starts one origin request for the missing blocks [first, …] (at most `count`, stopping at one held). */
  function load(o: ObjectVersion, first: number, count: number): void {
    let last = first;
    while (last + 1 < first + count && last + 1 <= lastBlock(o) && !present(o, last + 1)) last++;
    const start = first * blockSize;
    const end = Math.min(o.size, (last + 1) * blockSize) - 1;
    const run = fetchWithRetry(o, start, end);
    for (let index = first; index <= last; index++) {
      const id = idOf(o, index);
      const block = run.then((data) => {
        const slice = data.subarray((index - first) * blockSize, Math.min(data.length, (index - first + 1) * blockSize));
        // Own copy per block: a slice would keep the whole run's buffer alive after eviction.
        const copy = Buffer.from(slice);
        blocks.set(id, copy);
        return copy;
      });
      block.then(
        () => inflight.delete(id),
        () => inflight.delete(id),
      );
      inflight.set(id, block);
    }
  }

  function block(o: ObjectVersion, index: number, run: number): Promise<Buffer> {
    const id = idOf(o, index);
    const cached = blocks.get(id);
    if (cached) {
      stats.hits++;
      return Promise.resolve(cached);
    }
    const pending = inflight.get(id);
    if (pending) {
      stats.hits++;
      return pending;
    }
    stats.misses++;
    load(o, index, run);
    return inflight.get(id)!;
  }

  async function* stream(o: ObjectVersion, start: number, end: number): AsyncGenerator<Buffer, void, undefined> {
    if (o.size === 0 || end < start) return;
    const first = Math.floor(start / blockSize);
    const last = Math.floor(Math.min(end, o.size - 1) / blockSize);
    // A bounded request is wanted whole: its blocks come in as few origin requests as the run allows.
    let run = Math.min(maxRun, last - first + 1);
    for (let index = first; index <= last; index++) {
      const wasPresent = present(o, index);
      const current = block(o, index, Math.min(run, last - index + 1));
      if (!wasPresent) run = Math.min(maxRun, run * 2);
      // Read-ahead: a reader past its first block is streaming; fetch its next run while it consumes this one.
      if (index > first && index < last && !present(o, index + 1)) {
        stats.misses++;
        load(o, index + 1, Math.min(run, last - index));
        run = Math.min(maxRun, run * 2);
      }
      const data = await current;
      const from = index === first ? start - index * blockSize : 0;
      const to = index === last ? end - index * blockSize + 1 : data.length;
      yield from === 0 && to === data.length ? data : data.subarray(from, to);
    }
  }

  return {
    blockSize,
    get size() {
      return blocks.calculatedSize;
    },
    stats,
    stream,
    async read(o, start, end) {
      const parts: Buffer[] = [];
      for await (const part of stream(o, start, end)) parts.push(part);
      return Buffer.concat(parts);
    },
  };
}
