// Still-image fixtures (HEIC, BMP), made in process: pixels drawn here, HEVC by libx265 through node-av
// (src/media/engine/still-image.ts), HEIF boxes by src/media/heif.ts, BMP by FFmpeg's encoder or by the
// small writer below (for the layouts FFmpeg does not write: top-down rows, 32-bit BI_RGB). No binary
// file is committed, nothing is cached: each fixture takes milliseconds.
//
// Pixels are checkable: pictures are made of flat rectangles of known colours (quadrants, or one
// colour per grid tile), optionally with a little deterministic texture so that HEVC has work to do.
import { encodeHevcImage, encodeStillImage, hevcItemProperties, type RawImage } from '../../src/media/engine/still-image.js';
import { gridDescriptor, imirBox, irotBox, ispeBox, writeHeif, type HeifItemSpec } from '../../src/media/heif.js';

export type Rgb = readonly [number, number, number];

export const RED: Rgb = [230, 30, 30];
export const GREEN: Rgb = [30, 200, 60];
export const BLUE: Rgb = [40, 60, 220];
export const YELLOW: Rgb = [240, 220, 40];
export const WHITE: Rgb = [250, 250, 250];
export const MAGENTA: Rgb = [200, 40, 200];

/** Quadrant colours, top-left, top-right, bottom-left, bottom-right. */
export const QUADRANTS: readonly [Rgb, Rgb, Rgb, Rgb] = [RED, GREEN, BLUE, YELLOW];

/** A deterministic ±amplitude texture value for pixel (x, y). */
function texture(x: number, y: number, amplitude: number): number {
  if (!amplitude) return 0;
  const h = Math.imul(x * 374761393 + y * 668265263, 1274126177) >>> 0;
  return ((h >>> 8) % (2 * amplitude + 1)) - amplitude;
}

const clamp = (v: number) => Math.max(0, Math.min(255, v));

/** width×height pixels coloured by `colour(x, y)`, with optional texture; alpha 255 when 4 channels. */
export function drawImage(width: number, height: number, colour: (x: number, y: number) => Rgb, options: { channels?: 3 | 4; textured?: number; alpha?: (x: number, y: number) => number } = {}): RawImage {
  const channels = options.channels ?? 3;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = colour(x, y);
      const t = texture(x, y, options.textured ?? 0);
      const i = (y * width + x) * channels;
      data[i] = clamp(c[0] + t);
      data[i + 1] = clamp(c[1] + t);
      data[i + 2] = clamp(c[2] + t);
      if (channels === 4) data[i + 3] = options.alpha ? options.alpha(x, y) : 255;
    }
  }
  return { data, width, height, channels };
}

/** A picture of four quadrants in QUADRANTS' colours. */
export function quadrantImage(width: number, height: number, channels: 3 | 4 = 3, alpha?: (x: number, y: number) => number): RawImage {
  return drawImage(width, height, (x, y) => QUADRANTS[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]!, { channels, alpha });
}

/** The pixel at (x, y) of a decoded image. */
export function pixelAt(img: RawImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * img.channels;
  return [...img.data.subarray(i, i + img.channels)];
}

/** Largest per-channel difference between a pixel and a colour (first three channels). */
export function colourDistance(pixel: readonly number[], colour: Rgb): number {
  return Math.max(Math.abs(pixel[0]! - colour[0]), Math.abs(pixel[1]! - colour[1]), Math.abs(pixel[2]! - colour[2]));
}

// ---------------------------------------------------------------------------------------------
// HEIC

/** A single-image HEIC (no grid) of quadrants. */
export function heicFixture(width = 320, height = 240, quality = 90): Buffer {
  return encodeStillImage(quadrantImage(width, height), 'heic', quality);
}

export interface GridSpec {
  /** Tile side (square tiles). Default 256. */
  tile?: number;
  rows?: number;
  columns?: number;
  /** Output (cropped) size. Default 500×400. */
  width?: number;
  height?: number;
  /** Colour of tile i (raster order). Default: TILE_COLOURS cycled. */
  colour?: (tile: number) => Rgb;
  /** Texture amplitude (0: flat tiles). */
  textured?: number;
  /** irot, anti-clockwise quarter turns, on the grid item. */
  rotate?: number;
  /** imir axis on the grid item (after irot). */
  mirror?: 0 | 1;
  quality?: number;
}

export const TILE_COLOURS: readonly Rgb[] = [RED, GREEN, BLUE, YELLOW, WHITE, MAGENTA];

/** The colour of grid tile i under a spec. */
export const tileColour = (spec: GridSpec, i: number): Rgb => (spec.colour ?? ((n: number) => TILE_COLOURS[n % TILE_COLOURS.length]!))(i);

/**
 * A grid HEIC as iPhones write it: a `grid` item (descriptor in idat) that is the primary item, with
 * `dimg` references to rows × columns hidden `hvc1` tiles, each its own HEVC picture, cropped to the
 * output size. Default: four 256×256 tiles → 500×400.
 */
export function gridHeicFixture(spec: GridSpec = {}): Buffer {
  const tile = spec.tile ?? 256;
  const rows = spec.rows ?? 2;
  const columns = spec.columns ?? 2;
  const width = spec.width ?? 500;
  const height = spec.height ?? 400;
  const items: HeifItemSpec[] = [];
  const tileIds: number[] = [];
  for (let i = 0; i < rows * columns; i++) {
    const colour = tileColour(spec, i);
    const encoded = encodeHevcImage(drawImage(tile, tile, () => colour, { textured: spec.textured ?? 0 }), spec.quality ?? 90);
    const id = 2 + i;
    tileIds.push(id);
    items.push({ id, type: 'hvc1', data: encoded.data, hidden: true, properties: hevcItemProperties(encoded) });
  }
  const gridProps: { box: Buffer; essential?: boolean }[] = [{ box: ispeBox(width, height) }];
  if (spec.rotate) gridProps.push({ box: irotBox(spec.rotate), essential: true });
  if (spec.mirror !== undefined) gridProps.push({ box: imirBox(spec.mirror), essential: true });
  items.unshift({ id: 1, type: 'grid', data: gridDescriptor(rows, columns, width, height), inIdat: true, properties: gridProps });
  return writeHeif({ primary: 1, items, references: [{ type: 'dimg', from: 1, to: tileIds }] });
}

// ---------------------------------------------------------------------------------------------
// BMP

/** A BMP of quadrants written by FFmpeg's bmp encoder: bottom-up rows, 24-bit (or 32-bit BGRA). */
export function ffmpegBmpFixture(width = 64, height = 48, channels: 3 | 4 = 3): Buffer {
  return encodeStillImage(quadrantImage(width, height, channels, channels === 4 ? (x) => (x < width / 2 ? 255 : 128) : undefined), 'bmp', 100);
}

/**
 * A BMP written here: BITMAPINFOHEADER, BI_RGB, 24 or 32 bits, rows bottom-up (the BMP default,
 * positive height) or top-down (negative height). 32-bit BI_RGB carries no alpha (the fourth byte is 0).
 */
export function writeBmp(img: RawImage, options: { bits: 24 | 32; topDown?: boolean }): Buffer {
  const bytes = options.bits / 8;
  const stride = Math.ceil((img.width * bytes) / 4) * 4;
  const pixels = Buffer.alloc(stride * img.height);
  for (let y = 0; y < img.height; y++) {
    const row = options.topDown ? y : img.height - 1 - y;
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * img.channels;
      const d = row * stride + x * bytes;
      pixels[d] = img.data[s + 2]!;
      pixels[d + 1] = img.data[s + 1]!;
      pixels[d + 2] = img.data[s]!;
    }
  }
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixels.length, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(img.width, 18);
  header.writeInt32LE(options.topDown ? -img.height : img.height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(options.bits, 28);
  header.writeUInt32LE(0, 30); // BI_RGB
  header.writeUInt32LE(pixels.length, 34);
  header.writeInt32LE(2835, 38);
  header.writeInt32LE(2835, 42);
  return Buffer.concat([header, pixels]);
}

/** A BMP header claiming width×height pixels, followed by a few bytes: hostile input. */
export function bmpClaiming(width: number, height: number): Buffer {
  const head = writeBmp({ data: Buffer.alloc(12), width: 2, height: 2, channels: 3 }, { bits: 24 });
  head.writeInt32LE(width, 18);
  head.writeInt32LE(height, 22);
  return head;
}
