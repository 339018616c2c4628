// The limiter (src/core/limiter.ts): a semaphore with a bounded queue and a deadline for interactive
// requests (full → 503 at once), and the batch lane tasks run in (fair share: never all the slots).
import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../src/core/limiter.js';
import { AppError } from '../../../src/errors.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

const tick = () => new Promise((r) => setTimeout(r, 5));

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

describe('limiter fair share', () => {
  it('batch work holds at most concurrency - 1 slots and never delays an interactive request', async () => {
    const limiter = createLimiter({ concurrency: 3, queueLength: 10, queueTimeoutMs: 1000 });
    const gates = Array.from({ length: 5 }, deferred);
    const batch = gates.map((g) => limiter.run(() => g.promise, undefined, 'batch'));
    await tick();
    expect([limiter.active, limiter.batchActive, limiter.batchQueued]).toEqual([2, 2, 3]);
    // A slot stays free for the URL API: an interactive capture starts at once.
    let ran = false;
    await limiter.run(async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    for (const g of gates) g.resolve();
    await Promise.all(batch);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('gives a freed slot to a waiting interactive request before queued batch work', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 10, queueTimeoutMs: 1000 });
    const first = deferred();
    const order: string[] = [];
    const running = limiter.run(() => first.promise, undefined, 'batch');
    await tick();
    const queuedBatch = limiter.run(async () => void order.push('batch'), undefined, 'batch');
    const interactive = limiter.run(async () => void order.push('interactive'));
    await tick();
    first.resolve();
    await Promise.all([running, queuedBatch, interactive]);
    expect(order).toEqual(['interactive', 'batch']);
  });

  it('batch waiters have no deadline but can be aborted', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 0, queueTimeoutMs: 10 });
    const gate = deferred();
    const running = limiter.run(() => gate.promise, undefined, 'batch');
    const controller = new AbortController();
    const waiting = limiter.run(async () => 'late', undefined, 'batch');
    const aborted = limiter.run(async () => 'never', controller.signal, 'batch');
    await new Promise((r) => setTimeout(r, 30));
    controller.abort();
    await expect(aborted).rejects.toThrow('aborted');
    gate.resolve();
    await running;
    expect(await waiting).toBe('late');
  });
});
