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

describe('single-flight keys and outcomes', () => {
  it('keys are independent; a settled key runs again', async () => {
    const flights = createSingleFlight<string>();
    let runs = 0;
    const work = (value: string) => async () => {
      runs++;
      return value;
    };
    expect(await Promise.all([flights.run('a', work('A')), flights.run('b', work('B'))])).toEqual(['A', 'B']);
    expect(await flights.run('a', work('A2'))).toBe('A2');
    expect(runs).toBe(3);
    expect(flights.inFlight).toBe(0);
  });

  it('a failure reaches every caller, and the key is free again', async () => {
    const flights = createSingleFlight<number>();
    const gate = deferred();
    const failing = async () => {
      await gate.promise;
      throw new Error('decode failed');
    };
    const callers = [flights.run('k', failing), flights.run('k', failing)];
    gate.resolve();
    for (const caller of callers) await expect(caller).rejects.toThrow('decode failed');
    expect(flights.inFlight).toBe(0);
    expect(await flights.run('k', async () => 7)).toBe(7);
  });

  it('a caller already aborted gets an abort at once, and no work starts', async () => {
    const flights = createSingleFlight<number>();
    let started = false;
    const work = async () => {
      started = true;
      return 1;
    };
    await expect(flights.run('k', work, AbortSignal.abort())).rejects.toThrow('aborted');
    expect(started).toBe(false);
    expect(flights.inFlight).toBe(0);
  });
});
