// Sprite sheets and animations from packed RGB pictures (src/image/sheets.ts): where each tile sits, the
// size of full and partial sheets, every tile and every animation frame read back by its frame code, and
// the delays GIF and WebP store.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { composeSheet, encodeAnimation, frameDelay, maxSheetSide, sheetSize, tilePosition, tilesPerSheet, type SheetLayout } from '../../../src/image/sheets.js';
import type { RgbPicture } from '../../../src/image/render.js';
import { codeRaw, readFrameIndex } from '../../support/fixtures.js';

const QUALITY = { jpeg: 90, webp: 90, avif: 60 };

async function picture(index: number, width = 160, height = 120): Promise<RgbPicture> {
  const { data, info } = await sharp(codeRaw(index, width, height), { raw: { width, height, channels: 1 } }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const LAYOUT: SheetLayout = { columns: 3, rows: 2, tileWidth: 160, tileHeight: 120, pad: 4, margin: 6 };

describe('sheet layout', () => {
  it('places tiles row by row from the top-left, margin around, pad between', () => {
    expect(tilePosition(LAYOUT, 0)).toEqual({ x: 6, y: 6 });
    expect(tilePosition(LAYOUT, 1)).toEqual({ x: 6 + 164, y: 6 });
    expect(tilePosition(LAYOUT, 2)).toEqual({ x: 6 + 2 * 164, y: 6 });
    expect(tilePosition(LAYOUT, 3)).toEqual({ x: 6, y: 6 + 124 });
    expect(tilesPerSheet(LAYOUT)).toBe(6);
  });

  it('a full sheet is margin + tiles + pads; a partial one keeps the width and only the rows it uses', () => {
    expect(sheetSize(LAYOUT, 6)).toEqual({ width: 2 * 6 + 3 * 160 + 2 * 4, height: 2 * 6 + 2 * 120 + 4 });
    expect(sheetSize(LAYOUT, 4)).toEqual(sheetSize(LAYOUT, 6));
    expect(sheetSize(LAYOUT, 3)).toEqual({ width: 500, height: 2 * 6 + 120 });
    expect(sheetSize(LAYOUT, 1)).toEqual({ width: 500, height: 132 });
    expect(sheetSize({ ...LAYOUT, pad: 0, margin: 0 }, 6)).toEqual({ width: 480, height: 240 });
  });

  it('WebP stops one pixel short of 16384', () => {
    expect([maxSheetSide('jpg'), maxSheetSide('png'), maxSheetSide('webp')]).toEqual([16384, 16384, 16383]);
  });
});

describe('composeSheet', () => {
  it.each(['png', 'jpg', 'webp'] as const)('every tile of a %s sheet reads back as its frame, at its position', async (format) => {
    const tiles = await Promise.all([11, 22, 33, 44, 55].map((i) => picture(i)));
    const sheet = await composeSheet(tiles, LAYOUT, format, QUALITY);
    const meta = await sharp(sheet).metadata();
    expect([meta.width, meta.height]).toEqual([500, 256]);
    for (const [i, frame] of [11, 22, 33, 44, 55].entries()) {
      const { x, y } = tilePosition(LAYOUT, i);
      const tile = await sharp(sheet).extract({ left: x, top: y, width: 160, height: 120 }).png().toBuffer();
      expect(await readFrameIndex(tile)).toBe(frame);
    }
    // The sixth place, the margin and the pads are black.
    const { data, info } = await sharp(sheet).greyscale().raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[y * info.width + x]!;
    expect(at(2, 2)).toBeLessThan(16);
    expect(at(6 + 160 + 2, 60)).toBeLessThan(16);
    const empty = tilePosition(LAYOUT, 5);
    expect(at(empty.x + 80, empty.y + 60)).toBeLessThan(16);
  });

  it('refuses a wrong tile count or tile size', async () => {
    await expect(composeSheet([], LAYOUT, 'png', QUALITY)).rejects.toThrow(/1 to 6 tiles/);
    await expect(composeSheet([await picture(1, 100, 100)], LAYOUT, 'png', QUALITY)).rejects.toThrow(/100×100/);
  });
});

describe('encodeAnimation', () => {
  it.each(['gif', 'webp'] as const)('%s: one page per frame, each readable, with the delay of the frame rate', async (format) => {
    const frames = [3, 1000, 40000, 7].map((i) => picture(i));
    const body = await encodeAnimation(await Promise.all(frames), 4, format, QUALITY);
    const meta = await sharp(body).metadata();
    expect(meta.format).toBe(format);
    expect([meta.pages, meta.width, meta.pageHeight ?? meta.height]).toEqual([4, 160, 120]);
    expect(meta.delay).toEqual([250, 250, 250, 250]);
    expect(meta.loop).toBe(0);
    for (const [i, frame] of [3, 1000, 40000, 7].entries()) {
      expect(await readFrameIndex(await sharp(body, { page: i }).png().toBuffer())).toBe(frame);
    }
  });

  it('delays: GIF in hundredths of a second, at least 20 ms; WebP in ms; both bounded', () => {
    expect(frameDelay(25, 'gif')).toBe(40);
    expect(frameDelay(30, 'gif')).toBe(30);
    expect(frameDelay(100, 'gif')).toBe(20);
    expect(frameDelay(30, 'webp')).toBe(33);
    expect(frameDelay(0.5, 'gif')).toBe(2000);
    expect(frameDelay(1e-6, 'gif')).toBe(655_350);
    expect(frameDelay(1e-9, 'webp')).toBe(16_777_215);
  });

  it('refuses no frames and frames of different sizes', async () => {
    await expect(encodeAnimation([], 1, 'gif', QUALITY)).rejects.toThrow(/at least one frame/);
    await expect(encodeAnimation([await picture(1), await picture(2, 80, 60)], 1, 'gif', QUALITY)).rejects.toThrow(/differ in size/);
  });
});
