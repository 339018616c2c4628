// A semaphore in front of ffmpeg with a bounded queue: at most `concurrency` captures run, at most
// `queueLength` wait, and a waiter gives up after `queueTimeoutMs`. Full → fail fast with a 503 that
// carries Retry-After, instead of piling up work the machine cannot finish.
import { errors } from '../errors.js';
import { AbortedError } from '../media/run.js';

export interface LimiterOptions {
  concurrency: number;
  queueLength: number;
  queueTimeoutMs: number;
}

export interface Limiter {
  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly active: number;
  readonly queued: number;
}

interface Waiter {
  grant: () => void;
}

export function createLimiter(options: LimiterOptions): Limiter {
  let active = 0;
  const queue: Waiter[] = [];
  const retryAfter = Math.max(1, Math.ceil(options.queueTimeoutMs / 1000));

  const release = () => {
    const next = queue.shift();
    if (next) next.grant();
    else active--;
  };

  const acquire = (signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      if (active < options.concurrency) {
        active++;
        return resolve();
      }
      if (queue.length >= options.queueLength) return reject(errors.saturated(retryAfter));
      const leave = (err: Error) => {
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = () => leave(new AbortedError());
      const timer = setTimeout(() => leave(errors.saturated(retryAfter)), options.queueTimeoutMs);
      const waiter: Waiter = {
        // The slot passes straight from the releaser to this waiter: `active` stays counted.
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });

  return {
    async run(work, signal) {
      await acquire(signal);
      try {
        return await work();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
  };
}
