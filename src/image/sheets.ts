// Frames assembled into one image: sprite sheets (tiles row by row from the top-left, `margin` around,
// `pad` between, a partial last sheet cut to the rows it uses) and animations (GIF or WebP, one frame per
// picture at a fixed rate). The pictures are packed RGB of one size, as the capture workers shape them
// (ExtractOutput `pixels`); the same code serves IMM tasks and the on-the-fly preview URLs.
import sharp from 'sharp';
import { encodePicture, type Quality, type RgbPicture } from './render.js';

export interface SheetLayout {
  /** Tiles per row (IMM TileWidth) and per column (TileHeight). */
  columns: number;
  rows: number;
  /** Size of every tile, px. */
  tileWidth: number;
  tileHeight: number;
  /** Pixels between tiles, and between the tiles and the sheet's edge. */
  pad: number;
  margin: number;
}

export type SheetFormat = 'jpg' | 'png' | 'webp';
export type AnimationFormat = 'gif' | 'webp';

/** Largest sheet side: 16384 px (IMM's sprite limit); WebP cannot go past 16383. */
export const maxSheetSide = (format: SheetFormat) => (format === 'webp' ? 16383 : 16384);
/** Most pixels of one sheet (a raw RGB canvas of 3 bytes each is built before encoding). */
export const MAX_SHEET_PIXELS = 100_000_000;
/** Most frames of one animation, and most pixels of all its frames together (held as raw RGB until encoded). */
export const MAX_ANIMATION_FRAMES = 300;
export const MAX_ANIMATION_PIXELS = 40_000_000;

/** Where tile `i` (0-based, within its sheet) sits. */
export function tilePosition(layout: SheetLayout, i: number): { x: number; y: number } {
  const column = i % layout.columns;
  const row = Math.floor(i / layout.columns);
  return { x: layout.margin + column * (layout.tileWidth + layout.pad), y: layout.margin + row * (layout.tileHeight + layout.pad) };
}

/** The size of a sheet holding `tiles` tiles (≤ columns × rows): full width, only the rows used. */
export function sheetSize(layout: SheetLayout, tiles: number): { width: number; height: number } {
  const rows = Math.min(layout.rows, Math.max(1, Math.ceil(tiles / layout.columns)));
  return {
    width: 2 * layout.margin + layout.columns * layout.tileWidth + (layout.columns - 1) * layout.pad,
    height: 2 * layout.margin + rows * layout.tileHeight + (rows - 1) * layout.pad,
  };
}

/** Tiles per sheet. */
export const tilesPerSheet = (layout: SheetLayout) => layout.columns * layout.rows;

/** One sheet: the tiles (at most columns × rows, each tileWidth × tileHeight) on black. */
export async function composeSheet(tiles: readonly RgbPicture[], layout: SheetLayout, format: SheetFormat, quality: Quality): Promise<Buffer> {
  if (tiles.length === 0 || tiles.length > tilesPerSheet(layout)) throw new Error(`a sheet holds 1 to ${tilesPerSheet(layout)} tiles, not ${tiles.length}`);
  const { width, height } = sheetSize(layout, tiles.length);
  // One canvas, each tile copied row by row: cheaper than sharp's composite for many small tiles.
  const canvas = Buffer.alloc(width * height * 3);
  tiles.forEach((tile, i) => {
    if (tile.width !== layout.tileWidth || tile.height !== layout.tileHeight) {
      throw new Error(`tile ${i} is ${tile.width}×${tile.height}, not ${layout.tileWidth}×${layout.tileHeight}`);
    }
    const { x, y } = tilePosition(layout, i);
    const rowBytes = tile.width * 3;
    for (let r = 0; r < tile.height; r++) tile.data.copy(canvas, ((y + r) * width + x) * 3, r * rowBytes, (r + 1) * rowBytes);
  });
  return encodePicture(sharp(canvas, { raw: { width, height, channels: 3 } }), format, quality);
}

/**
 * A frame's delay in ms at `fps`. GIF stores hundredths of a second (16 bits): the nearest, at least 20 ms
 * (browsers slow shorter ones to 100 ms); WebP stores milliseconds (24 bits).
 */
export function frameDelay(fps: number, format: AnimationFormat): number {
  if (format === 'gif') return Math.min(655_350, Math.max(20, Math.round(100 / fps) * 10));
  return Math.min(16_777_215, Math.max(1, Math.round(1000 / fps)));
}

/** An animation of the pictures (all one size), `fps` frames a second, looping for ever. */
export async function encodeAnimation(frames: readonly RgbPicture[], fps: number, format: AnimationFormat, quality: { webp: number }): Promise<Buffer> {
  const first = frames[0];
  if (!first) throw new Error('an animation needs at least one frame');
  for (const frame of frames) {
    if (frame.width !== first.width || frame.height !== first.height) throw new Error('animation frames differ in size');
  }
  const delay = frameDelay(fps, format);
  const strip = sharp(Buffer.concat(frames.map((f) => f.data)), {
    raw: { width: first.width, height: first.height * frames.length, channels: 3, pageHeight: first.height },
  });
  const delays = frames.map(() => delay);
  return format === 'gif' ? strip.gif({ delay: delays, loop: 0, effort: 3 }).toBuffer() : strip.webp({ delay: delays, loop: 0, quality: quality.webp, effort: 2 }).toBuffer();
}
