// The source JPEG's quality (src/image/jpeg-quality.ts), read back from JPEGs real encoders wrote.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { bufferReader, estimateJpegQuality } from '../../../src/image/jpeg-quality.js';

const picture = sharp({ create: { width: 48, height: 32, channels: 3, background: '#336699' } });
const estimate = (data: Buffer) => estimateJpegQuality(bufferReader(data));

describe('estimateJpegQuality', () => {
  it.each([
    ['baseline 4:2:0', {}],
    ['progressive', { progressive: true }],
    ['4:4:4', { chromaSubsampling: '4:4:4' }],
  ])('libjpeg-style tables (%s): every quality 1–100 read back exactly', async (_, extra) => {
    for (let quality = 1; quality <= 100; quality++) {
      expect(estimate(await picture.clone().jpeg({ quality, ...extra }).toBuffer()), `q ${quality}`).toBe(quality);
    }
  });

  it("mozjpeg's own tables (sharp's mozjpeg: true): every quality 5–100 read back exactly", async () => {
    for (let quality = 5; quality <= 100; quality++) {
      expect(estimate(await picture.clone().jpeg({ quality, mozjpeg: true }).toBuffer()), `q ${quality}`).toBe(quality);
    }
  });

  it('tables of neither family (a camera maker\'s) land on the nearest quality', async () => {
    // Standard quality-80 tables with every value nudged by one: still 80 (or a neighbour).
    const source = await picture.clone().jpeg({ quality: 80 }).toBuffer();
    const nudged = Buffer.from(source);
    let at = 2;
    while (nudged[at + 1] !== 0xdb) at += 2 + nudged.readUInt16BE(at + 2);
    for (let k = 0; k < 64; k++) nudged[at + 5 + k] = nudged[at + 5 + k]! + (k % 2 ? 1 : -1);
    expect(Math.abs(estimate(nudged)! - 80)).toBeLessThanOrEqual(1);
  });

  it('reads past a large EXIF segment; a greyscale JPEG has only the luminance table', async () => {
    const exif = { IFD0: { ImageDescription: 'x'.repeat(30_000) } };
    expect(estimate(await picture.clone().withExif(exif).jpeg({ quality: 63 }).toBuffer())).toBe(63);
    expect(estimate(await picture.clone().greyscale().jpeg({ quality: 41 }).toBuffer())).toBe(41);
  });

  it('16-bit tables are read too', () => {
    // SOI, DQT with Pq = 1 (16-bit) for table 0: every value 1 (quality 100), then SOS.
    const table = Buffer.alloc(128);
    for (let i = 0; i < 64; i++) table.writeUInt16BE(1, i * 2);
    const dqt = Buffer.concat([Buffer.from([0xff, 0xdb, 0x00, 2 + 1 + 128, 0x10]), table]);
    expect(estimate(Buffer.concat([Buffer.from([0xff, 0xd8]), dqt, Buffer.from([0xff, 0xda, 0x00, 0x02])]))).toBe(100);
  });

  it('not a JPEG, no table, or cut anywhere: undefined or a quality, never a throw', async () => {
    expect(estimate(await picture.clone().png().toBuffer())).toBeUndefined();
    expect(estimate(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]))).toBeUndefined();
    const whole = await picture.clone().jpeg({ quality: 70 }).toBuffer();
    for (let cut = 0; cut < 400; cut++) {
      const got = estimate(whole.subarray(0, cut));
      expect(got === undefined || (got >= 1 && got <= 100)).toBe(true);
    }
    for (let i = 0; i < 200; i++) {
      const noise = Buffer.from(Array.from({ length: 300 }, (_, k) => (k < 2 ? [0xff, 0xd8][k]! : (i * 131 + k * 7919) % 256)));
      expect(() => estimate(noise)).not.toThrow();
    }
  });
});
