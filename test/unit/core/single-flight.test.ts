// Single-flight (src/core/single-flight.ts): concurrent callers of one key share one run, which is aborted
// only when every caller has gone.
import { describe, expect, it } from 'vitest';
import { createSingleFlight } from '../../../src/core/single-flight.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

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
