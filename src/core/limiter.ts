// A semaphore in front of the capture workers with a bounded queue: at most `concurrency` captures run, at most
// `queueLength` wait, and a waiter gives up after `queueTimeoutMs`. Full → fail fast with a 503 that
// carries Retry-After, instead of piling up work the machine cannot finish.
//
// Two lanes share the slots. `interactive` (the URL API: a browser is waiting) is served first and is
// bounded as above. `batch` (IMM tasks: nobody is waiting on a socket) waits without a deadline, is
// granted a slot only when no interactive request is waiting, and never holds more than
// `concurrency - 1` slots (when concurrency > 1), so a big batch cannot starve `<img>` requests.
import { AbortedError, errors } from '../errors.js';

export interface LimiterOptions {
  concurrency: number;
  queueLength: number;
  queueTimeoutMs: number;
}

export type Lane = 'interactive' | 'batch';

export interface Limiter {
  run<T>(work: () => Promise<T>, signal?: AbortSignal, lane?: Lane): Promise<T>;
  readonly active: number;
  /** Waiters of both lanes. */
  readonly queued: number;
  readonly batchActive: number;
  readonly batchQueued: number;
  /** Most slots the batch lane may hold at once. */
  readonly batchShare: number;
}

interface Waiter {
  grant: () => void;
}

export function createLimiter(options: LimiterOptions): Limiter {
  let active = 0;
  let batchActive = 0;
  const queue: Waiter[] = [];
  const batchQueue: Waiter[] = [];
  const retryAfter = Math.max(1, Math.ceil(options.queueTimeoutMs / 1000));
  const batchShare = options.concurrency > 1 ? options.concurrency - 1 : 1;

  // Hands free slots to waiters: interactive first, then batch within its share.
  const dispatch = () => {
    while (active < options.concurrency) {
      const next = queue.shift();
      if (next) {
        active++;
        next.grant();
        continue;
      }
      if (batchActive >= batchShare) return;
      const batch = batchQueue.shift();
      if (!batch) return;
      active++;
      batchActive++;
      batch.grant();
    }
  };

  const acquire = (signal: AbortSignal | undefined, lane: Lane) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      if (lane === 'batch') {
        if (active < options.concurrency && batchActive < batchShare && queue.length === 0 && batchQueue.length === 0) {
          active++;
          batchActive++;
          return resolve();
        }
        const onAbort = () => {
          const at = batchQueue.indexOf(waiter);
          if (at >= 0) batchQueue.splice(at, 1);
          reject(new AbortedError());
        };
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        batchQueue.push(waiter);
        return;
      }
      if (active < options.concurrency && queue.length === 0) {
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
    async run(work, signal, lane = 'interactive') {
      await acquire(signal, lane);
      try {
        return await work();
      } finally {
        active--;
        if (lane === 'batch') batchActive--;
        dispatch();
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.length + batchQueue.length;
    },
    get batchActive() {
      return batchActive;
    },
    get batchQueued() {
      return batchQueue.length;
    },
    batchShare,
  };
}
