// N identical concurrent misses run the work once. Each caller may abort on its own (a client that hangs
// up); the shared work is aborted only when every caller has gone, so one impatient client never
// cancels a frame others are waiting for, and a frame nobody waits for never keeps ffmpeg running.
import { AbortedError } from '../errors.js';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

export interface SingleFlight<T> {
  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly inFlight: number;
}

export function createSingleFlight<T>(): SingleFlight<T> {
  const flights = new Map<string, Flight<T>>();
  return {
    run(key, work, signal) {
      if (signal?.aborted) return Promise.reject(new AbortedError());
      let flight = flights.get(key);
      if (!flight) {
        const controller = new AbortController();
        const promise: Promise<T> = work(controller.signal).finally(() => {
          if (flights.get(key)?.promise === promise) flights.delete(key);
        });
        flight = { promise, controller, waiters: 0 };
        flights.set(key, flight);
      }
      const current = flight;
      current.waiters++;
      return new Promise<T>((resolve, reject) => {
        let settled = false;
        const onAbort = () => {
          if (settled) return;
          settled = true;
          if (--current.waiters === 0) {
            current.controller.abort();
            if (flights.get(key) === current) flights.delete(key);
          }
          reject(new AbortedError());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        current.promise.then(
          (value) => {
            if (settled) return;
            settled = true;
            signal?.removeEventListener('abort', onAbort);
            resolve(value);
          },
          (err: unknown) => {
            if (settled) return;
            settled = true;
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        );
      });
    },
    get inFlight() {
      return flights.size;
    },
  };
}
