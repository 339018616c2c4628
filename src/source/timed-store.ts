// Storage latency: every stat, read and write an adapter answers, timed into one histogram by operation
// and outcome. `read` is the time until the adapter hands back the stream (on S3 and HTTP origins: the
// origin's first response); `block` (timeFetch) is a whole block-sized ranged read for ffmpeg, bytes
// included — the reads a remote capture waits for.
import type { Histogram } from '../core/metrics.js';
import type { ObjectStore } from './store.js';

async function timed<T>(seconds: Histogram, op: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let outcome = 'error';
  try {
    const value = await run();
    outcome = 'ok';
    return value;
  } finally {
    seconds.observe((performance.now() - started) / 1000, { op, outcome });
  }
}

export function timeStore(store: ObjectStore, seconds: Histogram): ObjectStore {
  return {
    ...store,
    stat: (bucket, key) => timed(seconds, 'stat', () => store.stat(bucket, key)),
    read: (bucket, key, range, options) => timed(seconds, 'read', () => store.read(bucket, key, range, options)),
    write: (bucket, key, body, contentType) => timed(seconds, 'write', () => store.write(bucket, key, body, contentType)),
  };
}

export function timeFetch<A extends unknown[], T>(fetch: (...args: A) => Promise<T>, seconds: Histogram): (...args: A) => Promise<T> {
  return (...args) => timed(seconds, 'block', () => fetch(...args));
}
