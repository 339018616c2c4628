// dhash frame selection, as the spec defines it: a 64-bit difference hash (9×8 grey) per sampled frame;
// a frame's change is the Hamming distance to the last kept frame, scaled to 0–100; the first frame is
// always a candidate (change 100). Threshold keeps frames whose change ≥ Threshold; Number keeps the
// N candidates with the largest change; the result is in time order.
/** The thumbnail a hash is computed from: the engine area-averages each sampled frame to this (grey). */
export const HASH_THUMBNAIL = { kind: 'grey', width: 9, height: 8 } as const;

/** Bit (y, x) = 1 when pixel x of row y is darker than its right neighbour. */
export function hashOfThumbnail(grey: Buffer): bigint {
  let hash = 0n;
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      hash = (hash << 1n) | (grey[y * 9 + x]! < grey[y * 9 + x + 1]! ? 1n : 0n);
    }
  }
  return hash;
}

export function hammingDistance(a: bigint, b: bigint): number {
  let x = a ^ b;
  let count = 0;
  while (x) {
    x &= x - 1n;
    count++;
  }
  return count;
}

/** Change between two hashes on the spec's 0–100 scale. */
export const changeOf = (a: bigint, b: bigint) => (hammingDistance(a, b) * 100) / 64;

export interface Candidate {
  position: number;
  change: number;
}

/** Positions (into `hashes`, in time order; holes skipped) a dhash spec keeps: DhashSelector over all of them. */
export function selectChanged(hashes: readonly bigint[], threshold: number | undefined, number: number): number[] {
  const selector = new DhashSelector(threshold, number);
  // forEach, not for…of: positions never hashed (holes) are skipped.
  hashes.forEach((hash, position) => {
    selector.add(position, hash);
  });
  return selector.finish();
}

/**
 * Feed hashes in time order. With Threshold only, a frame's fate is known at once (`add` says so);
 * with Number, only at `finish` (the N largest changes among the candidates).
 */
export class DhashSelector {
  private last: bigint | undefined;
  private readonly candidates: Candidate[] = [];

  constructor(
    private readonly threshold: number | undefined,
    private readonly number: number,
  ) {}

  /** True when `add` decisions are final (no Number): the caller may output kept frames at once. */
  get streaming(): boolean {
    return this.number === 0;
  }

  /** Whether the frame is a candidate (with Threshold only: kept), and its change. */
  add(position: number, hash: bigint): Candidate & { candidate: boolean } {
    const change = this.last === undefined ? 100 : changeOf(hash, this.last);
    const candidate = this.threshold === undefined || change >= this.threshold;
    // Without Threshold every frame is kept for comparison, so its change is to the previous sample.
    if (candidate) {
      this.last = hash;
      this.candidates.push({ position, change });
    }
    return { position, change, candidate };
  }

  /** Positions selected, in time order. */
  finish(): number[] {
    let chosen = this.candidates;
    if (this.number > 0 && chosen.length > this.number) {
      // Largest change first; equal changes keep the earlier frame.
      chosen = [...chosen].sort((a, b) => b.change - a.change || a.position - b.position).slice(0, this.number);
    }
    return chosen.map((c) => c.position).sort((a, b) => a - b);
  }
}
