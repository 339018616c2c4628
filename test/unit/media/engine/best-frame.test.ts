// m_best's scoring (pure) and its bounded walk, run in this process on fixture files (node-av, no worker).
import { statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { beats, bestFrameNear, MAX_DECODED, MAX_SCORED, scoreGrey, strideFor } from '../../../../src/media/engine/best-frame.js';
import { OpenSource } from '../../../../src/media/engine/source.js';
import { blurredStretchFixture, fixture, openBlackFixture, OPEN_BLACK_FRAMES } from '../../../support/fixtures.js';

const W = 32;
const H = 24;
const picture = (pixel: (x: number, y: number) => number) => {
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = pixel(x, y);
  return scoreGrey(data, W, H);
};

describe('scoreGrey', () => {
  it('calls a picture black when nearly every pixel is darker than 32/255, whatever the codec range', () => {
    expect(picture(() => 0).kind).toBe('black');
    expect(picture(() => 16).kind).toBe('black');
    // A few bright pixels (a logo, noise) do not make it a picture: under 2% of them.
    expect(picture((x, y) => (x === 5 && y < 10 ? 255 : 16)).kind).toBe('black');
    // A dark but real picture: a quarter of it lit.
    expect(picture((x) => (x < 8 ? 200 : 16)).kind).toBe('usable');
  });

  it('calls a picture flat when its luma hardly varies (a fade, a blank card)', () => {
    expect(picture(() => 128).kind).toBe('flat');
    expect(picture((x) => 126 + (x % 3)).kind).toBe('flat');
    expect(picture((x) => (x < 16 ? 100 : 156)).kind).toBe('usable');
  });

  it('measures sharpness: a hard edge beats the same edge blurred', () => {
    const hard = picture((x) => (x < 16 ? 40 : 220));
    const soft = picture((x) => Math.round(40 + (180 * Math.min(1, Math.max(0, x - 8))) / 16));
    expect(hard.kind).toBe('usable');
    expect(soft.kind).toBe('usable');
    expect(hard.sharpness).toBeGreaterThan(soft.sharpness * 4);
  });
});

describe('beats', () => {
  const usable = (sharpness: number) => ({ mean: 100, deviation: 50, sharpness, kind: 'usable' as const });
  it('ranks usable over flat over black', () => {
    const flat = { mean: 128, deviation: 1, sharpness: 0, kind: 'flat' as const };
    const black = { mean: 10, deviation: 0, sharpness: 0, kind: 'black' as const };
    expect(beats(usable(1), flat)).toBe(true);
    expect(beats(flat, black)).toBe(true);
    expect(beats(black, flat)).toBe(false);
    expect(beats(flat, usable(1))).toBe(false);
  });

  it('a later usable frame must be more than 10% sharper; the least bad flat or black frame is the most varied or brightest', () => {
    expect(beats(usable(109), usable(100))).toBe(false);
    expect(beats(usable(111), usable(100))).toBe(true);
    expect(beats({ mean: 128, deviation: 3, sharpness: 0, kind: 'flat' }, { mean: 128, deviation: 2, sharpness: 0, kind: 'flat' })).toBe(true);
    expect(beats({ mean: 12, deviation: 0, sharpness: 0, kind: 'black' }, { mean: 12, deviation: 0, sharpness: 0, kind: 'black' })).toBe(false);
  });
});

describe('strideFor', () => {
  it('scores every frame of a short window, every Nth of a long one: at most MAX_SCORED', () => {
    expect(strideFor(2000, 1 / 25)).toBe(1);
    expect(strideFor(3000, 1 / 30)).toBe(1);
    expect(strideFor(3000, 1 / 60)).toBe(2);
    expect(strideFor(10_000, 1 / 25)).toBe(3);
    expect(strideFor(10_000, 1 / 60)).toBe(7);
    // No nominal rate: 30 fps is assumed.
    expect(strideFor(10_000, 0)).toBe(4);
    for (const [ms, fps] of [[3000, 24], [10_000, 30], [10_000, 120], [100, 25]] as const) {
      expect(Math.ceil((ms / 1000) * fps / strideFor(ms, 1 / fps))).toBeLessThanOrEqual(MAX_SCORED);
    }
  });
});

describe('bestFrameNear (in process)', () => {
  const opened: OpenSource[] = [];
  const open = (path: string) => {
    const source = OpenSource.open(
      { kind: 'file', id: `${path}#${opened.length}`, path, size: statSync(path).size },
      { decodeThreads: 1, tonemap: 'off', maxSourcePixels: 1e8, maxSourceDurationSeconds: 86_400 },
    );
    opened.push(source);
    return source;
  };
  afterAll(() => {
    for (const source of opened) source.close();
  });
  const ms = (source: OpenSource, pts: bigint) => Math.round(source.seconds(pts - source.startPts) * 1000);

  it('skips the black opening; every frame of a 3 s window at 25 fps is scored', async () => {
    const source = open(await openBlackFixture());
    const best = bestFrameNear(source, 0, 3000);
    try {
      expect(ms(source, best.pts)).toBeGreaterThanOrEqual((OPEN_BLACK_FRAMES * 1000) / 25);
      expect(best.scored).toBe(76);
    } finally {
      best.frame.free();
    }
  });

  it('a long window of a B-frame clip scores every 3rd frame and decodes only reference frames', async () => {
    const source = open(await blurredStretchFixture());
    const best = bestFrameNear(source, 0, 10_000);
    try {
      expect(best.scored).toBeLessThanOrEqual(MAX_SCORED);
      // 250 frames; x264's B-pyramid makes one B-frame of each pair a reference, the other one is not decoded.
      expect(best.decoded).toBeLessThan(200);
    } finally {
      best.frame.free();
    }
  });

  it('a 60 fps clip stops after MAX_DECODED frames past t', async () => {
    const source = open(await fixture({ container: 'mp4', codec: 'h264', fps: 60, seconds: 12, gop: 60 }));
    const best = bestFrameNear(source, 1000, 10_000);
    try {
      expect(best.decoded).toBeLessThanOrEqual(MAX_DECODED + 2 + 60);
      expect(best.scored).toBeLessThanOrEqual(MAX_SCORED);
      expect(ms(source, best.pts)).toBeLessThanOrEqual(1000 + (MAX_DECODED * 1000) / 60);
    } finally {
      best.frame.free();
    }
  });
});
