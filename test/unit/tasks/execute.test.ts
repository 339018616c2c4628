// A task output's size in pixels (src/tasks/execute.ts, outputSize): pixels as given, fractions of the
// picture as displayed — non-square pixels squared, a rotated source turned upright — never below one pixel,
// and 0 (derive from the other side) for a side not given. A sprite's layout: its tile size, shrunk to fit a sheet
// when no size was asked; an animation's frame rate.
import { describe, expect, it } from 'vitest';
import type { VideoStream } from '../../../src/media/probe.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';
import { animationFps, outputSize, spriteLayout } from '../../../src/tasks/execute.js';

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

describe('spriteLayout', () => {
  const sprite = (fields: Record<string, unknown>) =>
    parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4' }], Targets: [{ Image: { Sprites: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...fields }] } }] }, { maxOutputDimension: 4096, maxFramesPerTask: 100 }, new Date()).sprites[0]!;

  it('tiles of the source size by default; pixels and fractions as asked; fit gives the smaller tile', () => {
    expect(spriteLayout(sprite({}), video(320, 240)).layout).toEqual({ columns: 6, rows: 6, tileWidth: 320, tileHeight: 240, pad: 2, margin: 2 });
    expect(spriteLayout(sprite({ ScaleWidth: 0.5, ScaleHeight: 0.5 }), video(320, 240, { rotation: 90 })).layout).toMatchObject({ tileWidth: 120, tileHeight: 160 });
    expect(spriteLayout(sprite({ ScaleWidth: 100 }), video(320, 240)).layout).toMatchObject({ tileWidth: 100, tileHeight: 75 });
    expect(spriteLayout(sprite({ ScaleWidth: 100, ScaleHeight: 100, ScaleType: 'fit' }), video(320, 240)).layout).toMatchObject({ tileWidth: 100, tileHeight: 75 });
    expect(spriteLayout(sprite({ ScaleWidth: 100, ScaleHeight: 100, ScaleType: 'fill' }), video(320, 240)).layout).toMatchObject({ tileWidth: 100, tileHeight: 100 });
  });

  it('default tiles too large for a sheet shrink to fit 16384 px a side and 100 megapixels', () => {
    // 6 × 3840 = 23,040 px: shrunk.
    const { layout, render } = spriteLayout(sprite({}), video(3840, 2160));
    const width = 2 * 2 + 6 * layout.tileWidth + 5 * 2;
    const height = 2 * 2 + 6 * layout.tileHeight + 5 * 2;
    expect(width).toBeLessThanOrEqual(16384);
    expect(width * height).toBeLessThanOrEqual(100_000_000);
    expect(width * height).toBeGreaterThan(95_000_000);
    expect(layout.tileWidth / layout.tileHeight).toBeCloseTo(16 / 9, 2);
    expect(render).toMatchObject({ width: layout.tileWidth, height: layout.tileHeight, scaleType: 'stretch' });
    // Only the rows used count: 3 tiles of 1080p fit unshrunk.
    expect(spriteLayout(sprite({ Number: 3 }), video(1920, 1080)).layout).toMatchObject({ tileWidth: 1920, tileHeight: 1080 });
  });

  it('an explicit size that cannot fit fails, naming the spec', () => {
    expect(() => spriteLayout(sprite({ ScaleWidth: 1 }), video(3840, 2160))).toThrow(
      'Targets[0].Image.Sprites[0]: a sheet of 6x6 tiles of 3840x2160 px would be 23054x12974 px, above the limit of 16384 px a side and 100 megapixels: lower ScaleWidth/ScaleHeight, TileWidth/TileHeight, Pad or Margin.',
    );
  });
});

describe('animationFps', () => {
  it('FrameRate, else one frame per Interval, or per frame of the video when the Interval is shorter', () => {
    expect(animationFps({ frameRate: 10, interval: 1 }, 0.04)).toBe(10);
    expect(animationFps({ frameRate: undefined, interval: 0.5 }, 0.04)).toBe(2);
    expect(animationFps({ frameRate: undefined, interval: 0.01 }, 0.04)).toBe(25);
  });
});
