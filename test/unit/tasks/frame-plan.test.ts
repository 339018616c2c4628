// Frame planning (src/tasks/frame-plan.ts): the sample times of interval, average and dhash specs within a
// source's clip, the refusal of a start past the end, and the frames and keyframes of a frame index.
import { describe, expect, it } from 'vitest';
import { indexOf } from '../../../src/media/engine/extract.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';
import { clipOf, frameAtOrBefore, keyframeOf, keyframesIn, sampleTimes } from '../../../src/tasks/frame-plan.js';

describe('frame planning', () => {
  const spec = (snapshot: Record<string, unknown>, source: Record<string, unknown> = {}) =>
    parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4', ...source }], Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...snapshot }] } }] }, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date());
  const plan = (snapshot: Record<string, unknown>, source: Record<string, unknown> = {}, end = 10) => {
    const request = spec(snapshot, source);
    return sampleTimes(request.snapshots[0]!, clipOf(request.sources[0]!, end));
  };

  it('interval, average, dhash sample times within the clip', () => {
    expect(plan({ Interval: 3 })).toEqual([0, 3, 6, 9]);
    expect(plan({ Interval: 3, Number: 2, StartTime: 1 })).toEqual([1, 4]);
    expect(plan({ Mode: 'average', Number: 4 })).toEqual([0, 2.5, 5, 7.5]);
    expect(plan({ Mode: 'dhash', Number: 2, Interval: 4 })).toEqual([0, 4, 8]);
    expect(plan({ Interval: 1 }, { StartTime: 2, Duration: 3 })).toEqual([2, 3, 4]);
    // No drift over many steps.
    expect(plan({ Interval: 0.1 }).length).toBe(100);
  });

  it('refuses a start at or past the end', () => {
    expect(() => plan({ StartTime: 10, Number: 1 })).toThrow('Targets[0].Image.Snapshots[0].StartTime 10 s is at or past the end of the video (10.000 s).');
    expect(() => plan({ Number: 1 }, { StartTime: 12 })).toThrow('Sources[0].StartTime 12 s is at or past the end of the video (10.000 s).');
  });

  it('keyframes in the clip and the frame shown at a time', () => {
    // Packets in decoding order (B-frames: presented out of order), a duplicate, and a frame before the
    // first keyframe (it cannot be decoded from it): the index is in presentation order, from the keyframe.
    const packets = [
      { pts: -0.04, key: false },
      { pts: 0, key: true },
      { pts: 0.08, key: false },
      { pts: 0.04, key: false },
      { pts: 0.12, key: true },
      { pts: 0.12, key: false },
      { pts: 0.16, key: false },
    ];
    const index = indexOf(packets, 1e-6);
    expect(index.pts).toEqual([0, 0.04, 0.08, 0.12, 0.16]);
    expect(index.key).toEqual([true, false, false, true, false]);
    expect([0, 0.039, 0.04, 0.119, 1].map((t) => frameAtOrBefore(index, t))).toEqual([0, 0, 1, 2, 4]);
    expect([0, 2, 3, 4].map((i) => keyframeOf(index, i))).toEqual([0, 0, 3, 3]);
    const request = spec({ Mode: 'keyframe' });
    expect(keyframesIn(index, 0, request.snapshots[0]!, { start: 0, end: 0.2 })).toEqual([0, 3]);
    expect(keyframesIn(index, 0, request.snapshots[0]!, { start: 0.05, end: 0.2 })).toEqual([3]);
  });
});
