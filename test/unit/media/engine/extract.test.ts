// The frame index a task plans from (src/media/engine/extract.ts, indexOf): packets in decoding order
// become frames in presentation order, duplicates within a tick merged (a key flag kept), and frames before
// the first keyframe dropped — they cannot be decoded from it.
import { describe, expect, it } from 'vitest';
import { indexOf } from '../../../../src/media/engine/extract.js';

const EPSILON = 0.0005;

describe('indexOf', () => {
  it('sorts B-frame decoding order into presentation order', () => {
    const packets = [
      { pts: 0, key: true },
      { pts: 0.12, key: false },
      { pts: 0.04, key: false },
      { pts: 0.08, key: false },
      { pts: 0.24, key: false },
      { pts: 0.16, key: false },
      { pts: 0.2, key: false },
    ];
    expect(indexOf(packets, EPSILON)).toEqual({ pts: [0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.24], key: [true, false, false, false, false, false, false] });
  });

  it('merges timestamps within epsilon into one frame, key if either was', () => {
    expect(indexOf([{ pts: 0, key: true }, { pts: 1, key: false }, { pts: 1.0004, key: true }, { pts: 2, key: false }], EPSILON)).toEqual({ pts: [0, 1, 2], key: [true, true, false] });
    expect(indexOf([{ pts: 0, key: true }, { pts: 1, key: false }, { pts: 1.0006, key: false }], EPSILON)).toEqual({ pts: [0, 1, 1.0006], key: [true, false, false] });
  });

  it('drops what comes before the first keyframe (open-GOP leading frames, a cut stream)', () => {
    const packets = [
      { pts: 10.0, key: false },
      { pts: 10.04, key: false },
      { pts: 10.08, key: true },
      { pts: 10.12, key: false },
    ];
    expect(indexOf(packets, EPSILON)).toEqual({ pts: [10.08, 10.12], key: [true, false] });
  });

  it('keeps negative timestamps from the first keyframe on, and an index without keyframes as it is', () => {
    expect(indexOf([{ pts: -0.08, key: true }, { pts: -0.04, key: false }, { pts: 0, key: true }], EPSILON)).toEqual({ pts: [-0.08, -0.04, 0], key: [true, false, true] });
    expect(indexOf([{ pts: 0.04, key: false }, { pts: 0, key: false }], EPSILON)).toEqual({ pts: [0, 0.04], key: [false, false] });
    expect(indexOf([], EPSILON)).toEqual({ pts: [], key: [] });
  });
});
