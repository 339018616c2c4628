import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../src/core/limiter.js';
import { createSingleFlight } from '../../../src/core/single-flight.js';
import { AppError } from '../../../src/errors.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('limiter', () => {
  it('runs at most `concurrency` at once and queues the rest in order', async () => {
    const limiter = createLimiter({ concurrency: 2, queueLength: 10, queueTimeoutMs: 1000 });
    const gates = [deferred(), deferred(), deferred()];
    const order: number[] = [];
    const runs = gates.map((g, i) => limiter.run(async () => { order.push(i); await g.promise; }));
    await new Promise((r) => setTimeout(r, 5));
    expect([limiter.active, limiter.queued]).toEqual([2, 1]);
    gates[0]!.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([0, 1, 2]);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await Promise.all(runs);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('fails fast with a 503 when the queue is full', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 1, queueTimeoutMs: 5000 });
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    const second = limiter.run(async () => 'queued');
    const err = await limiter.run(async () => 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 503, retryAfter: 5 });
    gate.resolve();
    await first;
    expect(await second).toBe('queued');
  });

  it('gives up a queued waiter after the queue timeout and on abort', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 5, queueTimeoutMs: 30 });
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    await expect(limiter.run(async () => 1)).rejects.toMatchObject({ status: 503 });
    const controller = new AbortController();
    const aborted = limiter.run(async () => 1, controller.signal);
    controller.abort();
    await expect(aborted).rejects.toThrow('aborted');
    expect(limiter.queued).toBe(0);
    gate.resolve();
    await first;
    expect(limiter.active).toBe(0);
  });
});

describe('single-flight', () => {
  it('shares one run among concurrent callers', async () => {
    const flights = createSingleFlight<number>();
    let runs = 0;
    const gate = deferred();
    const work = async () => { runs++; await gate.promise; return 42; };
    const all = Promise.all([flights.run('k', work), flights.run('k', work), flights.run('k', work)]);
    gate.resolve();
    expect(await all).toEqual([42, 42, 42]);
    expect(runs).toBe(1);
    expect(flights.inFlight).toBe(0);
  });

  it('aborts the shared work only when every caller has gone', async () => {
    const flights = createSingleFlight<number>();
    let workSignal: AbortSignal | undefined;
    const gate = deferred();
    const work = async (signal: AbortSignal) => { workSignal = signal; await gate.promise; return 1; };
    const a = new AbortController();
    const b = new AbortController();
    const first = flights.run('k', work, a.signal);
    const second = flights.run('k', work, b.signal);
    a.abort();
    await expect(first).rejects.toThrow('aborted');
    expect(workSignal!.aborted).toBe(false);
    b.abort();
    await expect(second).rejects.toThrow('aborted');
    expect(workSignal!.aborted).toBe(true);
    gate.resolve();
  });
});
