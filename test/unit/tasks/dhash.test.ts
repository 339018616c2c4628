// dhash frame selection (src/tasks/dhash.ts): Threshold, Number, and both together.
import { describe, expect, it } from 'vitest';
import { DhashSelector, hammingDistance } from '../../../src/tasks/dhash.js';

describe('dhash selection', () => {
  it('Threshold keeps frames whose change to the last kept frame is large enough', () => {
    const s = new DhashSelector(15, 0);
    const hashes = [0n, 1n, 0xffn, 0xfffn, 0xffffffffn];
    const kept = hashes.map((h, i) => s.add(i, h).candidate);
    // 0: first (100) · 1: 1 bit (1.6) · 0xff: 8 bits (12.5) · 0xfff: 12 bits (18.75) · 0xffffffff: 20 bits from 0xfff.
    expect(kept).toEqual([true, false, false, true, true]);
    expect(s.finish()).toEqual([0, 3, 4]);
    expect(s.streaming).toBe(true);
  });

  it('Number keeps the N largest changes (to the previous sample), in time order, ties to the earlier', () => {
    const s = new DhashSelector(undefined, 3);
    for (const [i, h] of [0n, 0n, 0xffffn, 0xffffn, 0xffn, 0xffn].entries()) s.add(i, h);
    // changes: 100, 0, 25, 0, 12.5, 0
    expect(s.finish()).toEqual([0, 2, 4]);
  });

  it('Threshold and Number together: the N largest among the frames over the threshold', () => {
    const s = new DhashSelector(10, 1);
    for (const [i, h] of [0n, 0xffffn, 0xffn].entries()) s.add(i, h);
    expect(s.finish()).toEqual([0]);
    expect(hammingDistance(0xf0n, 0x0fn)).toBe(8);
  });
});
