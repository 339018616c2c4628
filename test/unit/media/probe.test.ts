// What capture needs to know of a media object (src/media/probe.ts): the display rotation from a display
// matrix, and the checks before any decoding — a frame source exists, within the pixel and duration limits.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { clockwiseRotation, requireVideo, type MediaInfo, type VideoStream } from '../../../src/media/probe.js';

const LIMITS = { maxSourcePixels: 7680 * 4320, maxSourceDurationSeconds: 43_200 };

const video = (extra: Partial<VideoStream> = {}): VideoStream => ({
  index: 0, codec: 'h264', width: 1920, height: 1080, rotation: 0, sampleAspect: 1, startTime: 0, frameDuration: 0.04,
  isCoverArt: false, pixelFormat: 'yuv420p', transfer: 'sdr', primaries: 'bt709', ...extra,
});
const media = (extra: Partial<MediaInfo> = {}): MediaInfo => ({ formatName: 'mov,mp4,m4a,3gp,3g2,mj2', duration: 60, video: video(), hasAudio: false, ...extra });

function refusal(info: MediaInfo): AppError {
  try {
    requireVideo(info, LIMITS);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('clockwiseRotation', () => {
  it('turns a display matrix angle (counter-clockwise) into clockwise degrees, a quarter turn at a time', () => {
    expect([0, -90, 90, 180, -180, 270, -270, 360, -450].map(clockwiseRotation)).toEqual([0, 90, 270, 180, 180, 90, 270, 0, 90]);
  });

  it('rounds an angle near a quarter turn to it', () => {
    expect([-89.9, -44, -46, 135.1].map(clockwiseRotation)).toEqual([90, 0, 90, 180]);
  });

  it('reads a matrix without an angle as unrotated', () => {
    expect([Number.NaN, Infinity, -Infinity].map(clockwiseRotation)).toEqual([0, 0, 0]);
  });
});

describe('requireVideo', () => {
  it('returns the video stream within the limits', () => {
    const info = media();
    expect(requireVideo(info, LIMITS)).toBe(info.video);
    expect(requireVideo(media({ video: video({ width: 7680, height: 4320 }), duration: 43_200 }), LIMITS).width).toBe(7680);
  });

  it('no video stream: 400, naming the cover picture for audio', () => {
    expect(refusal(media({ video: undefined, hasAudio: true }))).toMatchObject({ status: 400, code: 'InvalidArgument', message: 'The object has no video stream and no embedded cover picture.' });
    expect(refusal(media({ video: undefined }))).toMatchObject({ status: 400, message: 'The object has no video stream.' });
  });

  it('a frame above the pixel limit: 400 naming the size and the limit', () => {
    expect(refusal(media({ video: video({ width: 8192, height: 4320 }) }))).toMatchObject({
      status: 400,
      message: 'The video is 8192x4320, above the limit of 33177600 pixels per frame.',
    });
  });

  it('a source longer than the limit: 400 with its rounded length — except a cover picture, which has no length of its own', () => {
    expect(refusal(media({ duration: 50_000.4 }))).toMatchObject({ status: 400, message: 'The video lasts 50000 s, above the limit of 43200 s.' });
    expect(requireVideo(media({ duration: 50_000, video: video({ isCoverArt: true, codec: 'mjpeg' }) }), LIMITS).isCoverArt).toBe(true);
  });
});
