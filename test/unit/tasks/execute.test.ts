// A task output's size in pixels (src/tasks/execute.ts, outputSize): pixels as given, fractions of the
// picture as displayed — non-square pixels squared, a rotated source turned upright — never below one pixel,
// and 0 (derive from the other side) for a side not given.
import { describe, expect, it } from 'vitest';
import type { VideoStream } from '../../../src/media/probe.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';
import { outputSize } from '../../../src/tasks/execute.js';

const snapshot = (size: Record<string, unknown>) =>
  parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4' }], Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...size }] } }] }, { maxOutputDimension: 4096, maxFramesPerTask: 100 }, new Date()).snapshots[0]!;

const video = (width: number, height: number, extra: Partial<VideoStream> = {}): VideoStream => ({
  index: 0, codec: 'h264', width, height, rotation: 0, sampleAspect: 1, startTime: 0, frameDuration: 0.04, isCoverArt: false,
  pixelFormat: 'yuv420p', transfer: 'sdr', primaries: 'bt709', ...extra,
});

describe('outputSize', () => {
  it('pixels as given; a side not given is 0 (derived from the other by the renderer)', () => {
    expect(outputSize(snapshot({ Width: 200, Height: 100 }), video(320, 240))).toEqual({ width: 200, height: 100 });
    expect(outputSize(snapshot({ Width: 200 }), video(320, 240))).toEqual({ width: 200, height: 0 });
    expect(outputSize(snapshot({}), video(320, 240))).toEqual({ width: 0, height: 0 });
  });

  it('fractions of the displayed size, rounded', () => {
    expect(outputSize(snapshot({ Width: 0.5, Height: 0.25 }), video(320, 240))).toEqual({ width: 160, height: 60 });
    expect(outputSize(snapshot({ Width: 0.333 }), video(320, 240))).toEqual({ width: 107, height: 0 });
  });

  it('fractions of the upright picture of a rotated source', () => {
    expect(outputSize(snapshot({ Width: 0.5, Height: 0.5 }), video(320, 240, { rotation: 90 }))).toEqual({ width: 120, height: 160 });
    expect(outputSize(snapshot({ Width: 0.5, Height: 0.5 }), video(320, 240, { rotation: 180 }))).toEqual({ width: 160, height: 120 });
  });

  it('fractions of the squared picture of non-square pixels', () => {
    expect(outputSize(snapshot({ Width: 0.5, Height: 0.5 }), video(160, 240, { sampleAspect: 2 }))).toEqual({ width: 160, height: 120 });
    expect(outputSize(snapshot({ Width: 0.5 }), video(160, 240, { sampleAspect: 2, rotation: 270 }))).toEqual({ width: 120, height: 0 });
  });

  it('never below one pixel', () => {
    expect(outputSize(snapshot({ Width: 0.001, Height: 0.001 }), video(320, 240))).toEqual({ width: 1, height: 1 });
  });
});
