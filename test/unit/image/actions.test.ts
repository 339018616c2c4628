// The pixel pipeline (src/image/actions.ts) on real sharp: images made here, sizes, pixels and JSON checked.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { applyImageActions, DEFAULT_IMAGE_LIMITS, type ImageActionOptions, type ImageInput, planResize, type ProcessedImage, watermarkKeys } from '../../../src/image/actions.js';
import { bufferReader, estimateJpegQuality } from '../../../src/image/jpeg-quality.js';
import type { Gravity, ImageAction, OutputFormat, WatermarkAction } from '../../../src/process/image-process.js';

type RGBA = { r: number; g: number; b: number; alpha?: number };

const options = (extra: Partial<ImageActionOptions> = {}): ImageActionOptions => ({
  watermarks: {},
  quality: { jpeg: 85, webp: 80, avif: 50 },
  defaultFormat: 'png',
  limits: DEFAULT_IMAGE_LIMITS,
  ...extra,
});

const solid = (width: number, height: number, background: string | RGBA = '#3366cc') => sharp({ create: { width, height, channels: 3, background } });
const png = (width: number, height: number, background?: string | RGBA): Promise<Buffer> => solid(width, height, background).png().toBuffer();
const jpg = (width: number, height: number, background?: string): Promise<Buffer> => solid(width, height, background).jpeg().toBuffer();
const encoded = (data: Buffer): ImageInput => ({ kind: 'encoded', data });

const resize = (r: Partial<Extract<ImageAction, { action: 'resize' }>>): ImageAction => ({
  action: 'resize', mode: 'lfit', width: undefined, height: undefined, long: undefined, short: undefined, percent: undefined, limit: true, color: 'FFFFFF', ...r,
});
const crop = (c: Partial<Extract<ImageAction, { action: 'crop' }>>): ImageAction => ({ action: 'crop', x: 0, y: 0, width: undefined, height: undefined, gravity: 'nw', ...c });
const format = (f: OutputFormat): ImageAction => ({ action: 'format', format: f });
const mark = (w: Partial<WatermarkAction>): WatermarkAction => ({
  action: 'watermark', opacity: 100, gravity: 'se', x: 10, y: 10, voffset: 0, text: undefined, image: undefined, order: 0, align: 0, interval: 0, ...w,
});

async function run(input: ImageInput | Buffer, actions: ImageAction[], extra: Partial<ImageActionOptions> = {}): Promise<ProcessedImage & { kind: 'encoded' }> {
  const out = await applyImageActions(Buffer.isBuffer(input) ? encoded(input) : input, actions, options(extra));
  if (out.kind !== 'encoded') throw new Error('expected an encoded image');
  return out;
}

async function size(out: ProcessedImage & { kind: 'encoded' }) {
  const m = await sharp(out.body, { animated: true }).metadata();
  return { width: m.width, height: m.pageHeight ?? m.height, pages: m.pages ?? 1, format: m.format };
}

async function pixel(body: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * 4;
  return [...data.subarray(i, i + 4)];
}

async function rejects(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

const near = (actual: number[], expected: number[], tolerance = 6) => {
  expect(actual.length).toBe(expected.length);
  for (const [i, v] of actual.entries()) expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(tolerance);
};

/** An animated image: `frames` frames of width × height, each a different colour. */
async function animated(fmt: 'gif' | 'webp', width = 40, height = 30, frames = 3): Promise<Buffer> {
  const strip = Buffer.alloc(width * height * frames * 3);
  for (let f = 0; f < frames; f++) for (let i = 0; i < width * height; i++) strip[(f * width * height + i) * 3 + (f % 3)] = 255;
  const image = sharp(strip, { raw: { width, height: height * frames, channels: 3, pageHeight: height } });
  return (fmt === 'gif' ? image.gif({ delay: Array(frames).fill(100), loop: 0 }) : image.webp({ delay: Array(frames).fill(100), loop: 0 })).toBuffer();
}

describe('resize (OSS worked example: 200×100 with w150 h80)', () => {
  it.each([
    ['lfit', 150, 75],
    ['mfit', 160, 80],
    ['fill', 150, 80],
    ['pad', 150, 80],
    ['fixed', 150, 80],
  ] as const)('%s → %i×%i', async (mode, width, height) => {
    const out = await run(await png(200, 100), [resize({ mode, width: 150, height: 80 })]);
    expect([out.width, out.height]).toEqual([width, height]);
    expect(await size(out)).toMatchObject({ width, height, format: 'png' });
  });

  it('pad fills with the colour around the contained image', async () => {
    const out = await run(await png(200, 100, '#000000'), [resize({ mode: 'pad', width: 100, height: 100, color: 'FF0000' })]);
    near(await pixel(out.body, 50, 2), [255, 0, 0, 255]);
    near(await pixel(out.body, 50, 50), [0, 0, 0, 255]);
  });

  it('one side keeps the aspect; l and s follow the source orientation; p scales and multiplies w/h', async () => {
    const source = await png(200, 100);
    expect((await run(source, [resize({ width: 100 })])).height).toBe(50);
    expect((await run(source, [resize({ height: 20 })])).width).toBe(40);
    expect(await run(source, [resize({ long: 100 })]).then((o) => [o.width, o.height])).toEqual([100, 50]);
    expect(await run(source, [resize({ short: 50 })]).then((o) => [o.width, o.height])).toEqual([100, 50]);
    expect(await run(await png(100, 200), [resize({ long: 100 })]).then((o) => [o.width, o.height])).toEqual([50, 100]);
    expect(await run(source, [resize({ percent: 50 })]).then((o) => [o.width, o.height])).toEqual([100, 50]);
    expect(await run(source, [resize({ percent: 150 })]).then((o) => [o.width, o.height])).toEqual([300, 150]);
    expect(await run(source, [resize({ width: 50, height: 50, percent: 200, mode: 'fixed' })]).then((o) => [o.width, o.height])).toEqual([100, 100]);
  });

  it('limit_1 keeps the source size when the target is larger; limit_0 enlarges', async () => {
    const source = await png(200, 100);
    expect(await run(source, [resize({ width: 400 })]).then((o) => [o.width, o.height])).toEqual([200, 100]);
    expect(await run(source, [resize({ width: 400, limit: false })]).then((o) => [o.width, o.height])).toEqual([400, 200]);
    expect(await run(source, [resize({ mode: 'fixed', width: 150, height: 150 })]).then((o) => [o.width, o.height])).toEqual([200, 100]);
  });

  it('planResize: rounding and the limit, pure', () => {
    expect(planResize(200, 100, resize({ mode: 'fill', width: 150, height: 80 }) as never)).toEqual({ width: 160, height: 80, box: { width: 150, height: 80, mode: 'fill' } });
    expect(planResize(200, 100, resize({ width: 400 }) as never)).toBeUndefined();
    expect(planResize(200, 100, resize({ percent: 200 }) as never, true)).toBeUndefined();
    expect(planResize(3, 3, resize({ width: 1, height: 1 }) as never)).toEqual({ width: 1, height: 1 });
  });

  it('actions chain: each sees the previous output', async () => {
    const out = await run(await png(200, 100), [resize({ width: 100 }), crop({ width: 30, height: 30, gravity: 'center' }), resize({ width: 10, mode: 'fixed', height: 20 })]);
    expect([out.width, out.height]).toEqual([10, 20]);
  });
});

describe('crop and indexcrop', () => {
  it('gravity origins with x/y offsets; width/height past the edge are clamped', async () => {
    const source = await png(200, 100);
    expect(await run(source, [crop({ width: 50, height: 40 })]).then((o) => [o.width, o.height])).toEqual([50, 40]);
    expect(await run(source, [crop({ x: 180, y: 90, width: 50, height: 40 })]).then((o) => [o.width, o.height])).toEqual([20, 10]);
    expect(await run(source, [crop({ gravity: 'se', width: 50, height: 40, x: 10 })]).then((o) => [o.width, o.height])).toEqual([40, 40]);
    expect(await run(source, [crop({ gravity: 'se', width: 50, height: 40 })]).then((o) => [o.width, o.height])).toEqual([50, 40]);
    expect(await run(source, [crop({ gravity: 'center', x: 150 })]).then((o) => [o.width, o.height])).toEqual([50, 100]);
  });

  it('takes the right pixels (gravity se on a half-red image)', async () => {
    const source = await solid(200, 100, '#0000ff').composite([{ input: { create: { width: 100, height: 100, channels: 3, background: '#ff0000' } }, left: 100, top: 0 }]).png().toBuffer();
    const out = await run(source, [crop({ gravity: 'se', width: 20, height: 20 })]);
    near(await pixel(out.body, 10, 10), [255, 0, 0, 255]);
    const west = await run(source, [crop({ gravity: 'west', width: 20, height: 20 })]);
    near(await pixel(west.body, 10, 10), [0, 0, 255, 255]);
  });

  it("an origin outside the image: 400 Advance cut's position is out of image.", async () => {
    const err = await rejects(run(await png(200, 100), [crop({ x: 200, width: 10 })]));
    expect([err.status, err.code, err.message]).toEqual([400, 'BadRequest', "Advance cut's position is out of image."]);
    await rejects(run(await png(200, 100), [crop({ gravity: 'south', height: 10, y: 10 })]));
  });

  it('indexcrop slices along x or y; the last slice is short; an index out of range returns the image', async () => {
    const source = await png(200, 100);
    const slice = (axis: 'x' | 'y', length: number, index: number) => run(source, [{ action: 'indexcrop', axis, length, index }]).then((o) => [o.width, o.height]);
    expect(await slice('x', 60, 0)).toEqual([60, 100]);
    expect(await slice('x', 60, 3)).toEqual([20, 100]);
    expect(await slice('y', 30, 1)).toEqual([200, 30]);
    expect(await slice('y', 30, 4)).toEqual([200, 100]);
  });
});

describe('circle and rounded-corners', () => {
  it('circle: 2r+1 square, corners transparent in PNG and white in JPEG; r capped at (short−1)/2', async () => {
    const source = await png(200, 100, '#ff0000');
    const out = await run(source, [{ action: 'circle', radius: 30 }]);
    expect([out.width, out.height]).toEqual([61, 61]);
    expect((await pixel(out.body, 0, 0))[3]).toBe(0);
    near(await pixel(out.body, 30, 30), [255, 0, 0, 255]);
    const big = await run(source, [{ action: 'circle', radius: 80 }]);
    expect([big.width, big.height]).toEqual([99, 99]);
    const white = await run(source, [{ action: 'circle', radius: 30 }, format('jpg')]);
    expect(white.contentType).toBe('image/jpeg');
    near(await pixel(white.body, 0, 0), [255, 255, 255, 255], 20);
    near(await pixel(white.body, 30, 30), [255, 0, 0, 255], 30);
  });

  it('rounded-corners: same size, corners transparent, edges centres opaque; radius capped', async () => {
    const out = await run(await png(200, 100, '#00ff00'), [{ action: 'rounded-corners', radius: 20 }]);
    expect([out.width, out.height]).toEqual([200, 100]);
    expect((await pixel(out.body, 0, 0))[3]).toBe(0);
    expect((await pixel(out.body, 199, 99))[3]).toBe(0);
    expect((await pixel(out.body, 100, 0))[3]).toBe(255);
    expect((await pixel(out.body, 0, 50))[3]).toBe(255);
    const capped = await run(await png(200, 100, '#00ff00'), [{ action: 'rounded-corners', radius: 4000 }]);
    expect((await pixel(capped.body, 100, 0))[3]).toBe(255);
    expect((await pixel(capped.body, 5, 5))[3]).toBe(0);
  });
});

describe('rotate and auto-orient', () => {
  it('right angles swap the sides; other angles grow the canvas, transparent (white in JPEG)', async () => {
    const source = await png(200, 100, '#ff0000');
    expect(await run(source, [{ action: 'rotate', degrees: 90 }]).then((o) => [o.width, o.height])).toEqual([100, 200]);
    expect(await run(source, [{ action: 'rotate', degrees: 180 }]).then((o) => [o.width, o.height])).toEqual([200, 100]);
    const tilted = await run(source, [{ action: 'rotate', degrees: 45 }]);
    expect(tilted.width).toBeGreaterThan(200);
    expect((await pixel(tilted.body, 0, 0))[3]).toBe(0);
    const jpeg = await run(source, [{ action: 'rotate', degrees: 45 }, format('jpg')]);
    near(await pixel(jpeg.body, 0, 0), [255, 255, 255, 255]);
  });

  it('rotate is clockwise: the top-left corner goes to the top-right', async () => {
    const source = await solid(20, 10, '#0000ff').composite([{ input: { create: { width: 5, height: 5, channels: 3, background: '#ff0000' } }, left: 0, top: 0 }]).png().toBuffer();
    const out = await run(source, [{ action: 'rotate', degrees: 90 }]);
    near(await pixel(out.body, 8, 1), [255, 0, 0, 255]);
  });

  it('EXIF orientation 6 is applied by default and by auto-orient,1; auto-orient,0 keeps the stored pixels', async () => {
    const source = await solid(200, 100).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect(await run(source, []).then((o) => [o.width, o.height])).toEqual([100, 200]);
    expect(await run(source, [{ action: 'auto-orient', enabled: true }]).then((o) => [o.width, o.height])).toEqual([100, 200]);
    expect(await run(source, [resize({ width: 50 }), { action: 'auto-orient', enabled: false }]).then((o) => [o.width, o.height])).toEqual([50, 25]);
    expect(await run(source, [resize({ width: 50 })]).then((o) => [o.width, o.height])).toEqual([50, 100]);
  });
});

describe('filters', () => {
  it('blur and sharpen keep the size', async () => {
    const gradient = await sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7) % 256)), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    for (const action of [{ action: 'blur', radius: 5, sigma: 3 }, { action: 'sharpen', value: 100 }, { action: 'sharpen', value: 399 }] as ImageAction[]) {
      const out = await run(gradient, [action]);
      expect([out.width, out.height]).toEqual([64, 64]);
    }
    const blurred = await run(gradient, [{ action: 'blur', radius: 50, sigma: 50 }]);
    const stats = await sharp(blurred.body).stats();
    expect(stats.channels[0]!.stdev).toBeLessThan((await sharp(gradient).stats()).channels[0]!.stdev);
  });

  it('bright moves every channel, contrast stretches around 128', async () => {
    const grey = await png(10, 10, '#646464');
    near(await pixel((await run(grey, [{ action: 'bright', value: 50 }])).body, 5, 5), [164, 164, 164, 255], 1);
    near(await pixel((await run(grey, [{ action: 'bright', value: -100 }])).body, 5, 5), [0, 0, 0, 255], 1);
    near(await pixel((await run(grey, [{ action: 'contrast', value: 100 }])).body, 5, 5), [72, 72, 72, 255], 1);
    near(await pixel((await run(grey, [{ action: 'contrast', value: -100 }])).body, 5, 5), [128, 128, 128, 255], 1);
  });
});

describe('encoding: format, quality, interlace', () => {
  it('the default format is the given one; format picks another; transparency becomes white in JPEG', async () => {
    const transparent = await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const out = await run(transparent, [format('jpg')]);
    expect([out.format, out.contentType]).toEqual(['jpg', 'image/jpeg']);
    near(await pixel(out.body, 10, 10), [255, 255, 255, 255]);
    for (const f of ['png', 'webp', 'gif', 'tiff', 'avif'] as const) {
      const o = await run(transparent, [format(f)]);
      expect((await size(o)).format).toBe(f === 'avif' ? 'heif' : f);
    }
    expect((await run(await jpg(20, 20), [], { defaultFormat: 'jpg' })).contentType).toBe('image/jpeg');
  });

  it('bmp and heic come back as raw pixels for the engine', async () => {
    const out = await applyImageActions(encoded(await png(30, 20, '#ff0000')), [resize({ width: 15 }), format('bmp')], options());
    expect(out).toMatchObject({ kind: 'raw', width: 15, height: 10, channels: 3, format: 'bmp' });
    if (out.kind === 'raw') expect(out.data.length).toBe(15 * 10 * 3);
    const heic = await applyImageActions(encoded(await png(30, 20)), [{ action: 'circle', radius: 5 }, format('heic')], options());
    expect(heic).toMatchObject({ kind: 'raw', width: 11, height: 11, channels: 4, format: 'heic' });
  });

  it('quality changes the JPEG size; Q wins over q; interlace makes a progressive JPEG', async () => {
    const noisy = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 95 }).toBuffer();
    const low = await run(noisy, [{ action: 'quality', relative: 10, absolute: undefined }], { defaultFormat: 'jpg' });
    const high = await run(noisy, [{ action: 'quality', relative: 10, absolute: 90 }], { defaultFormat: 'jpg' });
    expect(low.body.length).toBeLessThan(high.body.length);
    const progressive = await run(noisy, [format('jpg'), { action: 'interlace', enabled: true }]);
    expect((await sharp(progressive.body).metadata()).isProgressive).toBe(true);
    expect((await sharp((await run(noisy, [format('jpg')])).body).metadata()).isProgressive).toBe(false);
  });
});

describe('quality against the source JPEG (OSS: q relative, Q never above the source)', () => {
  const quality = (relative: number | undefined, absolute: number | undefined): ImageAction => ({ action: 'quality', relative, absolute });
  const written = async (out: ProcessedImage & { kind: 'encoded' }) => estimateJpegQuality(bufferReader(out.body));

  it('q_50 of a quality-60 JPEG is 30; Q_90 of it stays 60, Q_40 is 40; Q wins over q', async () => {
    const source = await jpg(64, 48);
    const from60 = { defaultFormat: 'jpg' as const, source: { jpegQuality: 60 } };
    expect(await written(await run(source, [quality(50, undefined)], from60))).toBe(30);
    expect(await written(await run(source, [quality(undefined, 90)], from60))).toBe(60);
    expect(await written(await run(source, [quality(undefined, 40)], from60))).toBe(40);
    expect(await written(await run(source, [quality(10, 40)], from60))).toBe(40);
  });

  it('a source of unknown quality (a PNG, a video frame) counts as 100: q is then absolute', async () => {
    expect(await written(await run(await png(64, 48), [quality(50, undefined), format('jpg')]))).toBe(50);
    expect(await written(await run(await png(64, 48), [quality(1, undefined), format('jpg')], { source: { jpegQuality: 30 } }))).toBe(1);
  });
});

describe('info and average-hue', () => {
  it('info: the basic fields as OSS spells them, FileSize from the options, EXIF fields', async () => {
    const source = await solid(400, 267).jpeg().withMetadata({ orientation: 6, density: 72 }).toBuffer();
    const out = await run(source, [{ action: 'info' }], { source: { byteSize: 21839 } });
    expect(out.contentType).toBe('application/json');
    expect(out.format).toBe('json');
    const body = JSON.parse(out.body.toString());
    expect(body).toMatchObject({
      FileSize: { value: '21839' },
      Format: { value: 'jpg' },
      FrameCount: { value: '1' },
      ImageHeight: { value: '267' },
      ImageWidth: { value: '400' },
      Orientation: { value: '6' },
      XResolution: { value: '72/1' },
    });
    expect(Object.keys(body)).toEqual(Object.keys(body).sort());
    const plain = JSON.parse((await run(await png(10, 10), [{ action: 'info' }])).body.toString());
    expect(plain.Format.value).toBe('png');
    expect(plain.FileSize.value).toBe(String((await png(10, 10)).length));
    expect(plain.Orientation).toBeUndefined();
  });

  it('info counts the frames of an animated GIF', async () => {
    const body = JSON.parse((await run(await animated('gif'), [{ action: 'info' }])).body.toString());
    expect(body).toMatchObject({ Format: { value: 'gif' }, FrameCount: { value: '3' }, ImageWidth: { value: '40' }, ImageHeight: { value: '30' } });
  });

  it('average-hue: the mean colour as {"RGB":"0xrrggbb"}', async () => {
    const out = await run(await png(20, 20, '#bbcd7f'), [{ action: 'average-hue' }]);
    expect(out.contentType).toBe('application/json');
    expect(JSON.parse(out.body.toString())).toEqual({ RGB: '0xbbcd7f' });
    const halves = await solid(20, 10, '#000000').composite([{ input: { create: { width: 10, height: 10, channels: 3, background: '#ffffff' } }, left: 10, top: 0 }]).png().toBuffer();
    expect(JSON.parse((await run(halves, [{ action: 'average-hue' }])).body.toString()).RGB).toBe('0x808080');
  });
});

describe('watermark', () => {
  const text = (extra: Partial<NonNullable<WatermarkAction['text']>> = {}): WatermarkAction['text'] => ({ text: 'Hello 世界', font: 'wqy-zenhei', color: 'FF0000', size: 40, shadow: 0, rotate: 0, fill: false, ...extra });
  const redIn = async (body: Buffer, x0: number, y0: number, x1: number, y1: number) => {
    const { data, info } = await sharp(body).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let count = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
      const i = (y * info.width + x) * 3;
      if (data[i]! > 150 && data[i + 1]! < 100 && data[i + 2]! < 100) count++;
    }
    return count;
  };

  it('text at the se corner by default (margins 10), nothing elsewhere', async () => {
    const out = await run(await png(400, 300, '#ffffff'), [mark({ text: text() })]);
    expect([out.width, out.height]).toEqual([400, 300]);
    expect(await redIn(out.body, 200, 200, 390, 290)).toBeGreaterThan(50);
    expect(await redIn(out.body, 0, 0, 200, 200)).toBe(0);
    expect(await redIn(out.body, 391, 0, 400, 300)).toBe(0);
  });

  it.each(['nw', 'north', 'ne', 'west', 'center', 'east', 'sw', 'south', 'se'] as Gravity[])('gravity %s puts the text in its cell', async (gravity) => {
    const out = await run(await png(600, 300, '#ffffff'), [mark({ gravity, text: text({ size: 30, text: 'ab' }) })]);
    const col = ['nw', 'west', 'sw'].includes(gravity) ? 0 : ['ne', 'east', 'se'].includes(gravity) ? 2 : 1;
    const row = ['nw', 'north', 'ne'].includes(gravity) ? 0 : ['sw', 'south', 'se'].includes(gravity) ? 2 : 1;
    expect(await redIn(out.body, col * 200, row * 100, col * 200 + 200, row * 100 + 100)).toBeGreaterThan(20);
  });

  it('opacity t blends the text; shadow and rotate render; fill tiles everywhere', async () => {
    const full = await run(await png(200, 100, '#ffffff'), [mark({ text: text({ text: '█████', color: '000000' }), gravity: 'center' })]);
    const half = await run(await png(200, 100, '#ffffff'), [mark({ opacity: 50, text: text({ text: '█████', color: '000000' }), gravity: 'center' })]);
    expect((await pixel(full.body, 100, 50))[0]).toBeLessThan(20);
    expect(Math.abs((await pixel(half.body, 100, 50))[0]! - 128)).toBeLessThan(20);
    const shadowed = await run(await png(300, 100, '#ffffff'), [mark({ text: text({ shadow: 60, rotate: 30 }) })]);
    expect([shadowed.width, shadowed.height]).toEqual([300, 100]);
    const tiled = await run(await png(600, 400, '#ffffff'), [mark({ text: text({ fill: true, size: 30 }) })]);
    expect(await redIn(tiled.body, 0, 0, 200, 150)).toBeGreaterThan(20);
    expect(await redIn(tiled.body, 400, 250, 600, 400)).toBeGreaterThan(20);
  });

  it('image watermark: its own actions, P_ relative size, combined with text', async () => {
    const logo = await png(100, 100, '#ff0000');
    const key = 'logo.png';
    const action = mark({ image: { key, actions: [resize({ width: 40 })], percent: undefined }, x: 0, y: 0 });
    const out = await run(await png(200, 100, '#ffffff'), [action], { watermarks: { [key]: logo } });
    expect(await redIn(out.body, 160, 60, 200, 100)).toBe(1600);
    expect(await redIn(out.body, 0, 0, 159, 100)).toBe(0);
    const scaled = await run(await png(200, 100, '#ffffff'), [mark({ image: { key, actions: [], percent: 10 }, x: 0, y: 0 })], { watermarks: { [key]: logo } });
    expect(await redIn(scaled.body, 0, 0, 200, 100)).toBe(100);
    const both = await run(await png(400, 200, '#ffffff'), [mark({ image: { key, actions: [resize({ width: 30 })], percent: undefined }, text: text({ color: '0000FF', size: 20, text: 'xx' }), interval: 5, align: 1 })], { watermarks: { [key]: logo } });
    expect(await redIn(both.body, 0, 0, 400, 200)).toBe(900);
    const err = await rejects(run(await png(200, 100), [action]));
    expect(err.status).toBe(400);
    expect(watermarkKeys([action, mark({ image: { key: 'b', actions: [mark({ image: { key: 'c', actions: [], percent: undefined } })], percent: undefined } }), action])).toEqual(['logo.png', 'b', 'c']);
  });
});

describe('animated sources', () => {
  it.each(['gif', 'webp'] as const)('%s: resize, crop, quality and format keep the frames', async (fmt) => {
    const source = await animated(fmt);
    const out = await run(source, [resize({ width: 20 }), crop({ width: 10, height: 10 }), { action: 'quality', relative: undefined, absolute: 70 }], { defaultFormat: fmt });
    expect(await size(out)).toMatchObject({ width: 10, height: 10, pages: 3, format: fmt });
    expect([out.width, out.height]).toEqual([10, 10]);
    const converted = await run(source, [format(fmt === 'gif' ? 'webp' : 'gif')], { defaultFormat: fmt });
    expect((await size(converted)).pages).toBe(3);
    // The second frame is green: the frames are kept in order.
    const second = await sharp(out.body, { page: 1 }).raw().toBuffer();
    expect(second[1]).toBeGreaterThan(200);
  });

  it.each(['gif', 'webp'] as const)('%s: an image watermark marks every frame, and blur/bright keep the frames', async (fmt) => {
    const logo = await png(8, 8, '#ffffff');
    const out = await run(await animated(fmt), [mark({ image: { key: 'logo.png', actions: [], percent: undefined }, gravity: 'nw', x: 0, y: 0 })], {
      defaultFormat: fmt,
      watermarks: { 'logo.png': logo },
    });
    expect(await size(out)).toMatchObject({ width: 40, height: 30, pages: 3 });
    for (let page = 0; page < 3; page++) {
      const frame = await sharp(out.body, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => [...frame.data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
      // White under the mark, the frame's own colour (red, green, blue in turn) beside it.
      expect(at(2, 2).every((v) => v > 230), `page ${page} marked`).toBe(true);
      expect(at(20, 20)[page]!, `page ${page} colour`).toBeGreaterThan(200);
    }
    const filtered = await run(await animated(fmt), [{ action: 'blur', radius: 3, sigma: 2 }, { action: 'bright', value: 10 }], { defaultFormat: fmt });
    expect((await size(filtered)).pages).toBe(3);
  });

  it('rotate, percentage resize, other formats: the first frame only', async () => {
    const source = await animated('gif');
    expect((await size(await run(source, [{ action: 'rotate', degrees: 90 }], { defaultFormat: 'gif' }))).pages).toBe(1);
    expect(await size(await run(source, [resize({ percent: 50 })], { defaultFormat: 'gif' }))).toMatchObject({ width: 20, height: 15, pages: 1 });
    expect((await size(await run(source, [format('png')], { defaultFormat: 'gif' }))).pages).toBe(1);
  });

  it('a GIF is never enlarged, even with limit_0', async () => {
    const out = await run(await animated('gif'), [resize({ width: 80, limit: false })], { defaultFormat: 'gif' });
    expect(await size(out)).toMatchObject({ width: 40, height: 30, pages: 3 });
  });
});

describe('raw input (a captured frame)', () => {
  it('RGB pixels in, actions applied, encoded in the snapshot format', async () => {
    const data = Buffer.alloc(64 * 48 * 3, 200);
    const out = await run({ kind: 'raw', data, width: 64, height: 48, channels: 3 }, [resize({ width: 32 }), { action: 'rotate', degrees: 90 }], { defaultFormat: 'jpg' });
    expect([out.width, out.height, out.format]).toEqual([24, 32, 'jpg']);
  });
});

describe('limits and bad input', () => {
  it('the source size is checked before decoding', async () => {
    const source = await png(300, 200);
    const side = await rejects(run(source, [], { limits: { ...DEFAULT_IMAGE_LIMITS, maxSourceSide: 250 } }));
    expect([side.status, side.code]).toEqual([400, 'InvalidArgument']);
    expect(side.message).toContain('250');
    const pixels = await rejects(run(source, [], { limits: { ...DEFAULT_IMAGE_LIMITS, maxSourcePixels: 50_000 } }));
    expect(pixels.message).toContain('50000');
    const frames = await rejects(run(await animated('gif', 40, 30, 3), [], { limits: { ...DEFAULT_IMAGE_LIMITS, maxSourcePixels: 3000 } }));
    expect(frames.message).toContain('frames');
  });

  it('output over 16384 a side or 16,777,216 pixels: 400 naming the limit', async () => {
    const source = await png(100, 100);
    const side = await rejects(run(source, [resize({ width: 20000, height: 10, mode: 'fixed', limit: false })]));
    expect([side.status, side.code]).toEqual([400, 'InvalidArgument']);
    expect(side.message).toContain('16384');
    const area = await rejects(run(source, [resize({ percent: 1000 }), resize({ percent: 500 })]));
    expect(area.message).toContain('16777216');
  });

  it('bytes that are not an image, or a truncated one: 400 InvalidArgument', async () => {
    const err = await rejects(run(Buffer.from('not an image at all'), [resize({ width: 10 })]));
    expect([err.status, err.code]).toEqual([400, 'InvalidArgument']);
    const truncated = (await jpg(300, 300)).subarray(0, 400);
    const err2 = await rejects(run(truncated, [resize({ width: 10 })], { defaultFormat: 'jpg' }));
    expect(err2.status).toBe(400);
  });
});
