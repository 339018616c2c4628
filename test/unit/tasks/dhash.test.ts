// dhash (src/tasks/dhash.ts): the 64-bit difference hash of a 9×8 grey thumbnail, the change between two
// hashes, and frame selection by Threshold, Number, and both together.
import { describe, expect, it } from 'vitest';
import { changeOf, DhashSelector, HASH_THUMBNAIL, hammingDistance, hashOfThumbnail } from '../../../src/tasks/dhash.js';

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

describe('difference hash', () => {
  /** A 9×8 grey thumbnail from a function of (x, y). */
  const thumbnail = (value: (x: number, y: number) => number) => Buffer.from(Array.from({ length: 72 }, (_, i) => value(i % 9, Math.floor(i / 9))));

  it('bit (y, x), most significant first, is set when pixel x is darker than pixel x + 1 of row y', () => {
    expect(hashOfThumbnail(thumbnail((x) => x * 10))).toBe(0xffff_ffff_ffff_ffffn);
    expect(hashOfThumbnail(thumbnail((x) => 255 - x * 10))).toBe(0n);
    expect(hashOfThumbnail(thumbnail(() => 128))).toBe(0n);
    // Only the first row brightens left to right: the top byte.
    expect(hashOfThumbnail(thumbnail((x, y) => (y === 0 ? x : 0)))).toBe(0xff00_0000_0000_0000n);
    // Only the last pair of the last row: the lowest bit.
    expect(hashOfThumbnail(thumbnail((x, y) => (y === 7 && x === 8 ? 1 : 0)))).toBe(1n);
  });

  it('distance and change: differing bits, and their share of 64 on the 0–100 scale', () => {
    expect(hammingDistance(0n, 0n)).toBe(0);
    expect(hammingDistance(0n, 0xffff_ffff_ffff_ffffn)).toBe(64);
    expect(hammingDistance(0b1010n, 0b0110n)).toBe(2);
    expect(changeOf(0n, 0xffn)).toBe(12.5);
    expect(changeOf(0n, 0xffff_ffff_ffff_ffffn)).toBe(100);
  });

  it('the thumbnail a hash is made from is 9×8 grey', () => {
    expect(HASH_THUMBNAIL).toEqual({ kind: 'grey', width: 9, height: 8 });
  });
});
