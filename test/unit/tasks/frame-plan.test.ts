// Frame planning (src/tasks/frame-plan.ts): the sample times of interval, average and dhash specs within a
// source's clip, the refusal of a start past the end, and the frames and keyframes of a frame index.
import { describe, expect, it } from 'vitest';
import { indexOf } from '../../../src/media/engine/extract.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';
import { clipOf, everyFrameIn, frameAtOrBefore, framesAtTimes, keyframeOf, keyframesIn, samplesEveryFrame, sampleTimes, videoEndOf } from '../../../src/tasks/frame-plan.js';

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

describe('frame index arithmetic', () => {
  const spec = (snapshot: Record<string, unknown>, source: Record<string, unknown> = {}) =>
    parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4', ...source }], Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...snapshot }] } }] }, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date());
  // A TS-like stream: timestamps from 1.4 s, keyframes every 3 frames, 25 fps.
  const index = { pts: [1.4, 1.44, 1.48, 1.52, 1.56, 1.6, 1.64], key: [true, false, false, true, false, false, true] };

  it('frameAtOrBefore: the last frame presented at or before a time; the first before it; -1 for no frames', () => {
    expect([0, 1.4, 1.43, 1.44, 1.44 - 1e-6, 1.4399, 1.6, 99].map((t) => frameAtOrBefore(index, t))).toEqual([0, 0, 0, 1, 1, 0, 5, 6]);
    expect(frameAtOrBefore({ pts: [], key: [] }, 1)).toBe(-1);
  });

  it('keyframeOf: where decoding of a frame starts; the first frame when none is key before it', () => {
    expect([0, 1, 2, 3, 5, 6].map((i) => keyframeOf(index, i))).toEqual([0, 0, 0, 3, 3, 6]);
    expect(keyframeOf({ pts: [0, 1], key: [false, false] }, 1)).toBe(0);
  });

  it('framesAtTimes: sample times (media seconds) onto frames, through the stream start', () => {
    expect(framesAtTimes(index, 1.4, [0, 0.04, 0.1, 0.2, 5])).toEqual([0, 1, 2, 5, 6]);
  });

  it('videoEndOf: the last frame plus one frame (the nominal duration, else the last gap, else 40 ms)', () => {
    expect(videoEndOf(index, 1.4, 0.04)).toBeCloseTo(0.28, 9);
    expect(videoEndOf(index, 1.4, 0)).toBeCloseTo(0.28, 9);
    expect(videoEndOf({ pts: [0, 0.1, 0.3], key: [true, false, false] }, 0, 0)).toBeCloseTo(0.5, 9);
    expect(videoEndOf({ pts: [2], key: [true] }, 2, 0)).toBeCloseTo(0.04, 9);
    expect(videoEndOf({ pts: [], key: [] }, 0, 0.04)).toBe(0);
  });

  it('clipOf: StartTime and Duration of the source, cut at the end of the video', () => {
    const source = (StartTime: number, Duration: number) => spec({}, { StartTime, Duration }).sources[0]!;
    expect(clipOf(source(0, 0), 10)).toEqual({ start: 0, end: 10 });
    expect(clipOf(source(2, 3), 10)).toEqual({ start: 2, end: 5 });
    expect(clipOf(source(8, 5), 10)).toEqual({ start: 8, end: 10 });
    expect(() => clipOf(source(9.9999999, 0), 10)).toThrow('Sources[0].StartTime 9.9999999 s is at or past the end of the video (10.000 s).');
  });

  it('sample times: average over a clip, Number caps an interval, dhash samples the whole clip whatever its Number', () => {
    const times = (snapshot: Record<string, unknown>, clip: { start: number; end: number }) => sampleTimes(spec(snapshot).snapshots[0]!, clip);
    expect(times({ Mode: 'average', Number: 3 }, { start: 2, end: 8 })).toEqual([2, 4, 6]);
    expect(times({ Mode: 'average', Number: 2, StartTime: 2 }, { start: 2, end: 8 })).toEqual([4, 6]);
    expect(times({ Interval: 2, Number: 2 }, { start: 0, end: 10 })).toEqual([0, 2]);
    expect(times({ Mode: 'dhash', Interval: 2, Number: 1 }, { start: 0, end: 10 })).toEqual([0, 2, 4, 6, 8]);
    // 3 × 0.1 is not after 0.3: the slack keeps float steps on their frame.
    expect(times({ Interval: 0.1 }, { start: 0, end: 0.3 })).toHaveLength(3);
    expect(() => times({ StartTime: 3, Number: 1 }, { start: 5, end: 8 })).toThrow('Targets[0].Image.Snapshots[0].StartTime 3 s is at or past the end of the clipped video (3.000 s).');
  });

  it('an Interval shorter than a frame takes every frame once (OSS: clamped to the frame interval)', () => {
    const snapshot = (fields: Record<string, unknown>) => spec(fields).snapshots[0]!;
    expect(samplesEveryFrame(snapshot({ Interval: 0.001 }), 0.04)).toBe(true);
    expect(samplesEveryFrame(snapshot({ Interval: 0.039 }), 0.04)).toBe(true);
    expect(samplesEveryFrame(snapshot({ Interval: 0.04 }), 0.04)).toBe(false);
    expect(samplesEveryFrame(snapshot({ Interval: 0.001, Mode: 'dhash', Number: 3 }), 0.04)).toBe(false);
    const every = (fields: Record<string, unknown>, clip: { start: number; end: number }) => everyFrameIn(index, 1.4, snapshot({ Interval: 0.001, ...fields }), clip);
    expect(every({}, { start: 0, end: 1 })).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(every({ StartTime: 0.1, Number: 3 }, { start: 0, end: 1 })).toEqual([3, 4, 5]);
    expect(every({}, { start: 0.04, end: 0.12 })).toEqual([1, 2]);
  });

  it('keyframesIn: the key frames of the clip from StartTime, at most Number', () => {
    const keyframes = (snapshot: Record<string, unknown>, clip: { start: number; end: number }) => keyframesIn(index, 1.4, spec({ Mode: 'keyframe', ...snapshot }).snapshots[0]!, clip);
    expect(keyframes({}, { start: 0, end: 1 })).toEqual([0, 3, 6]);
    expect(keyframes({ Number: 2 }, { start: 0, end: 1 })).toEqual([0, 3]);
    expect(keyframes({}, { start: 0.1, end: 1 })).toEqual([3, 6]);
    expect(keyframes({ StartTime: 0.1 }, { start: 0, end: 0.24 })).toEqual([3]);
  });
});
