import { AV_LOG_ERROR, Log } from 'node-av';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { decodeStillImage, encodeHevcImage, encodeStillImage, heicCrf, sniffStillImage, type RawImage } from '../../../src/media/engine/still-image.js';
import { hvcCBox, ispeBox, parseHeif, readBoxes, writeHeif } from '../../../src/media/heif.js';
import {
  bmpClaiming,
  colourDistance,
  drawImage,
  ffmpegBmpFixture,
  gridHeicFixture,
  heicFixture,
  pixelAt,
  QUADRANTS,
  quadrantImage,
  tileColour,
  writeBmp,
  type Rgb,
} from '../../support/still-fixtures.js';

Log.setLevel(AV_LOG_ERROR);

/** Checks the colour at the centre of each quadrant; `tolerance` per channel (HEVC is lossy). */
function expectQuadrants(img: RawImage, tolerance: number, colours: readonly Rgb[] = QUADRANTS): void {
  const { width: w, height: h } = img;
  const centres = [
    [w / 4, h / 4],
    [(3 * w) / 4, h / 4],
    [w / 4, (3 * h) / 4],
    [(3 * w) / 4, (3 * h) / 4],
  ];
  centres.forEach(([x, y], i) => {
    const p = pixelAt(img, Math.floor(x!), Math.floor(y!));
    expect(colourDistance(p, colours[i]!), `quadrant ${i} at ${x},${y} is ${p.join(',')}`).toBeLessThanOrEqual(tolerance);
  });
}

/** The error a call throws, as an AppError. */
function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an error');
}

describe('sniffStillImage', () => {
  it('knows BMP and HEIF brands, and leaves AVIF, JPEG and junk alone', () => {
    expect(sniffStillImage(ffmpegBmpFixture())).toBe('bmp');
    expect(sniffStillImage(heicFixture(32, 32))).toBe('heic');
    const ftyp = (major: string, ...compat: string[]) => {
      const b = Buffer.alloc(16 + 4 * compat.length);
      b.writeUInt32BE(b.length, 0);
      b.write(`ftyp${major}`, 4, 'latin1');
      compat.forEach((c, i) => {
        b.write(c, 16 + 4 * i, 'latin1');
      });
      return Buffer.concat([b, Buffer.alloc(16)]);
    };
    expect(sniffStillImage(ftyp('mif1', 'heic'))).toBe('heic');
    expect(sniffStillImage(ftyp('heix', 'mif1'))).toBe('heic');
    expect(sniffStillImage(ftyp('msf1', 'hevc'))).toBe('heic');
    expect(sniffStillImage(ftyp('avif', 'mif1', 'miaf'))).toBeUndefined();
    expect(sniffStillImage(ftyp('mif1', 'avif'))).toBeUndefined();
    expect(sniffStillImage(ftyp('isom', 'mp41'))).toBeUndefined();
    expect(sniffStillImage(Buffer.from('ffd8ffe000104a4649460001', 'hex'))).toBeUndefined();
    expect(sniffStillImage(Buffer.from('BM'))).toBeUndefined();
    expect(sniffStillImage(Buffer.alloc(64))).toBeUndefined();
  });
});

describe('decodeStillImage: HEIC', () => {
  it('decodes a single-image HEIC', () => {
    const img = decodeStillImage(heicFixture(320, 240));
    expect([img.width, img.height, img.channels]).toEqual([320, 240, 3]);
    expectQuadrants(img, 12);
  });

  it('assembles a 2x2 grid of 256x256 tiles into the 500x400 output, cropped', () => {
    const img = decodeStillImage(gridHeicFixture());
    expect([img.width, img.height, img.channels]).toEqual([500, 400, 3]);
    // Tiles at (0,0) (256,0) (0,256) (256,256); the right and bottom ones are cropped.
    const probes: [number, number, number][] = [
      [5, 5, 0], [250, 250, 0], [261, 5, 1], [499, 250, 1], [5, 261, 2], [250, 399, 2], [261, 261, 3], [499, 399, 3],
    ];
    for (const [x, y, tile] of probes) expect(colourDistance(pixelAt(img, x, y), tileColour({}, tile)), `${x},${y}`).toBeLessThanOrEqual(6);
  });

  it('applies irot (anti-clockwise) and imir to a grid', () => {
    // 90° anti-clockwise: the top-right tile (1) comes to the top-left, the top-left (0) to the bottom-left.
    const rotated = decodeStillImage(gridHeicFixture({ rotate: 1 }));
    expect([rotated.width, rotated.height]).toEqual([400, 500]);
    expect(colourDistance(pixelAt(rotated, 5, 5), tileColour({}, 1))).toBeLessThanOrEqual(6);
    expect(colourDistance(pixelAt(rotated, 5, 495), tileColour({}, 0))).toBeLessThanOrEqual(6);
    expect(colourDistance(pixelAt(rotated, 395, 495), tileColour({}, 2))).toBeLessThanOrEqual(6);
    // Mirrored about the vertical axis: left and right swap.
    const mirrored = decodeStillImage(gridHeicFixture({ mirror: 0 }));
    expect([mirrored.width, mirrored.height]).toEqual([500, 400]);
    expect(colourDistance(pixelAt(mirrored, 5, 5), tileColour({}, 1))).toBeLessThanOrEqual(6);
    expect(colourDistance(pixelAt(mirrored, 495, 395), tileColour({}, 2))).toBeLessThanOrEqual(6);
    // About the horizontal axis: top and bottom swap.
    const flipped = decodeStillImage(gridHeicFixture({ mirror: 1 }));
    expect(colourDistance(pixelAt(flipped, 5, 5), tileColour({}, 2))).toBeLessThanOrEqual(6);
  });

  it('decodes an iPhone-sized grid (512 tiles, 3x2 → 1280x960) with decoder threads', () => {
    const file = gridHeicFixture({ tile: 512, rows: 2, columns: 3, width: 1280, height: 960, textured: 12 });
    const img = decodeStillImage(file, { threads: 2 });
    expect([img.width, img.height]).toEqual([1280, 960]);
    for (let tile = 0; tile < 6; tile++) {
      const x = Math.min(1279, (tile % 3) * 512 + 200);
      const y = Math.floor(tile / 3) * 512 + 200;
      // Textured ±12: the mean of a 9x9 patch stays near the tile colour.
      const mean = [0, 0, 0];
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const p = pixelAt(img, x + dx, y + dy);
          for (let k = 0; k < 3; k++) mean[k]! += p[k]! / 81;
        }
      }
      expect(colourDistance(mean, tileColour({}, tile)), `tile ${tile}`).toBeLessThanOrEqual(8);
    }
  });
});

describe('decodeStillImage: BMP', () => {
  it('decodes FFmpeg-written 24-bit BMP (bottom-up) exactly', () => {
    const img = decodeStillImage(ffmpegBmpFixture(64, 48));
    expect([img.width, img.height, img.channels]).toEqual([64, 48, 3]);
    expect(img.data.equals(quadrantImage(64, 48).data)).toBe(true);
  });

  it('decodes FFmpeg-written 32-bit BMP with its alpha', () => {
    const img = decodeStillImage(ffmpegBmpFixture(64, 48, 4));
    expect([img.width, img.height, img.channels]).toEqual([64, 48, 4]);
    expectQuadrants(img, 0);
    expect(pixelAt(img, 10, 10)[3]).toBe(255);
    expect(pixelAt(img, 50, 10)[3]).toBe(128);
  });

  it('reads rows bottom-up and top-down the right way round, with row padding', () => {
    const source = quadrantImage(31, 17); // 31*3 = 93 bytes a row: padded to 96
    for (const topDown of [false, true]) {
      const img = decodeStillImage(writeBmp(source, { bits: 24, topDown }));
      expect([img.width, img.height], `topDown ${topDown}`).toEqual([31, 17]);
      expect(img.data.equals(source.data), `topDown ${topDown}`).toBe(true);
    }
    // 32-bit BI_RGB with a zero fourth byte: colours right (the alpha byte is not transparency).
    const img = decodeStillImage(writeBmp(source, { bits: 32 }));
    expect([img.width, img.height]).toEqual([31, 17]);
    expectQuadrants(img, 0);
    if (img.channels === 4) expect(pixelAt(img, 3, 3)[3]).toBe(255);
  });
});

describe('encodeStillImage', () => {
  it('BMP → decode gives the same pixels (RGB and RGBA)', () => {
    const rgb = drawImage(37, 23, (x, y) => [x * 6, y * 10, (x * y) % 256]);
    const back = decodeStillImage(encodeStillImage(rgb, 'bmp', 90));
    expect(back.channels).toBe(3);
    expect(back.data.equals(rgb.data)).toBe(true);
    const rgba = drawImage(20, 10, (x, y) => [x * 12, y * 20, 7], { channels: 4, alpha: (x) => x * 12 });
    const back4 = decodeStillImage(encodeStillImage(rgba, 'bmp', 90));
    expect(back4.channels).toBe(4);
    expect(back4.data.equals(rgba.data)).toBe(true);
  });

  it('HEIC → decode gives about the same colours; libheif (sharp) reads its size', async () => {
    for (const [w, h] of [
      [320, 240],
      [101, 77], // odd: padded to even, cropped back with clap
    ] as const) {
      const heic = encodeStillImage(quadrantImage(w, h), 'heic', 80);
      const back = decodeStillImage(heic);
      expect([back.width, back.height, back.channels]).toEqual([w, h, 3]);
      expectQuadrants(back, 12);
      const meta = await sharp(heic).metadata();
      expect(meta.format).toBe('heif');
      expect([meta.width, meta.height]).toEqual([w, h]);
    }
    // The container is what the module says it writes.
    const file = parseHeif(encodeStillImage(quadrantImage(64, 64), 'heic', 50));
    expect(file.brands.slice(0, 1)).toEqual(['heic']);
    expect(file.items.get(file.primary)?.type).toBe('hvc1');
    expect(file.items.get(file.primary)?.properties.map((p) => p.box.type)).toEqual(['hvcC', 'ispe', 'colr', 'pixi']);
  });

  it('grid HEIC fixtures are read by libheif (sharp) at the grid size', async () => {
    const meta = await sharp(gridHeicFixture()).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['heif', 500, 400]);
  });

  it('HEIC of pictures under libx265\'s 16 px (a 1-px slice, 1×1, 65×9): padded, cropped back by clap', async () => {
    for (const [width, height] of [[240, 1], [1, 1], [65, 9]] as const) {
      const heic = encodeStillImage({ data: Buffer.alloc(width * height * 3, 128), width, height, channels: 3 }, 'heic', 80);
      expect(decodeStillImage(heic)).toMatchObject({ width, height });
      expect(await sharp(heic).metadata()).toMatchObject({ width, height });
    }
  });

  it('maps quality to CRF, higher quality → lower CRF and bigger files', () => {
    expect(heicCrf(100)).toBe(12);
    expect(heicCrf(75)).toBeLessThan(heicCrf(50));
    expect(heicCrf(1)).toBe(50);
    const img = drawImage(128, 128, () => [120, 130, 140], { textured: 30 });
    expect(encodeStillImage(img, 'heic', 95).length).toBeGreaterThan(encodeStillImage(img, 'heic', 30).length);
  });
});

describe('hostile input', () => {
  const invalid = (fn: () => unknown, pattern = /not a HEIC or BMP image FFmpeg can decode/) => {
    const started = performance.now();
    const err = thrown(fn);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(pattern);
    expect(performance.now() - started).toBeLessThan(2000);
  };

  it('random bytes, and random bytes behind valid magic', () => {
    let seed = 7;
    const random = (n: number) =>
      Buffer.from(
        Array.from({ length: n }, () => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return seed >>> 24;
        }),
      );
    invalid(() => decodeStillImage(random(4096)));
    invalid(() => decodeStillImage(Buffer.alloc(0)));
    const heic = heicFixture(64, 64);
    invalid(() => decodeStillImage(Buffer.concat([heic.subarray(0, 32), random(2000)])));
    const bmp = ffmpegBmpFixture(16, 16);
    const junkBmp = Buffer.concat([bmp.subarray(0, 54), random(40)]);
    // FFmpeg may decode what pixels there are; what matters is an answer, not a crash.
    try {
      decodeStillImage(junkBmp);
    } catch (err) {
      expect((err as AppError).status).toBe(400);
    }
  });

  it('truncated HEIC (single and grid)', () => {
    for (const file of [heicFixture(128, 96), gridHeicFixture()]) {
      for (const cut of [20, 100, Math.floor(file.length / 2), file.length - 10]) invalid(() => decodeStillImage(file.subarray(0, cut)));
    }
  });

  it('damaged HEVC data answers 400 or decodes, never crashes', () => {
    const file = Buffer.from(gridHeicFixture({ textured: 20 }));
    const mdat = readBoxes(file).find((b) => b.type === 'mdat')!;
    const at = mdat.payload.byteOffset - file.byteOffset;
    for (let i = at + 40; i < file.length; i += 97) file[i] = file[i]! ^ 0x5a;
    try {
      const img = decodeStillImage(file);
      expect([img.width, img.height]).toEqual([500, 400]);
    } catch (err) {
      expect((err as AppError).status).toBe(400);
    }
  });

  it('refuses huge sizes before decoding', () => {
    invalid(() => decodeStillImage(bmpClaiming(100000, 100000)), /100000x100000 pixels/);
    invalid(() => decodeStillImage(bmpClaiming(20000, -20000)), /over 30000 pixels a side or 250 megapixels/);
    // A grid claiming a 40000x300 output, and one whose tiles would make a canvas over 250 Mpx.
    invalid(() => decodeStillImage(gridHeicFixture({ width: 40000, height: 300 })), /40000x300 pixels/);
    invalid(() => decodeStillImage(gridHeicFixture({ tile: 16, rows: 2, columns: 2, width: 20000, height: 20000 })), /20000x20000/);
  });

  it('an item whose HEVC picture is larger than its ispe says', () => {
    const encoded = encodeHevcImage(quadrantImage(64, 64), 50);
    const lying = writeHeif({ primary: 1, items: [{ id: 1, type: 'hvc1', data: encoded.data, properties: [{ box: hvcCBox(encoded.record), essential: true }, { box: ispeBox(16, 16) }] }] });
    invalid(() => decodeStillImage(lying), /64x64 pixels, its ispe says 16x16/);
  });

  it('encode refuses what it cannot write', () => {
    expect(thrown(() => encodeStillImage({ data: Buffer.alloc(0), width: 0, height: 0, channels: 3 }, 'bmp', 90)).status).toBe(400);
    expect(thrown(() => encodeStillImage({ data: Buffer.alloc(20000 * 3), width: 20000, height: 1, channels: 3 }, 'heic', 90)).status).toBe(400);
  });
});
