// The quality a JPEG was encoded at, estimated from its quantization tables — what OSS's relative
// `quality,q_` scales ("q_80 of an 80 % JPEG gives 64 %") and what its absolute `Q_` never exceeds.
//
// The tables are matched against the IJG quality scaling of two base table sets: the standard (Annex K)
// tables, which libjpeg, libjpeg-turbo, libvips, FFmpeg's encoders and most servers use, and mozjpeg's
// default (N. Robidoux's, also ImageMagick's). The quality 1–100 whose tables are nearest (sum of absolute
// differences, luminance and chrominance) wins.
// A camera's own tables land on the nearest IJG quality, which is what the relative scale needs.
// Only the marker segments before the first scan are read (a few KB after EXIF), never the picture data.

/** The JPEG's quality 1–100, or undefined when it is not a JPEG or has no quantization table. */
export function estimateJpegQuality(read: (offset: number, length: number) => Buffer): number | undefined {
  const tables = quantizationTables(read);
  const luma = tables[0];
  if (!luma) return undefined;
  const chroma = tables[1];
  let best: number | undefined;
  let bestError = Number.POSITIVE_INFINITY;
  for (const [family, byQuality] of scaledTables().entries()) {
    const standard = family === 0;
    for (let quality = 1; quality <= 100; quality++) {
      const candidate = byQuality[quality - 1]!;
      const error = distance(luma, candidate.luma) + (chroma ? distance(chroma, candidate.chroma) : 0);
      // A tie (the lowest qualities saturate at 255) goes to the standard family, and within it to the
      // higher quality: the smaller loss for a relative q.
      if (error < bestError || (error === bestError && standard)) {
        bestError = error;
        best = quality;
      }
    }
  }
  return best;
}

/** Reads `data` for estimateJpegQuality. */
export function bufferReader(data: Buffer): (offset: number, length: number) => Buffer {
  return (offset, length) => data.subarray(offset, offset + length);
}

/** DQT tables 0 and 1 in natural (row-major) order, from the segments before the first SOS. */
function quantizationTables(read: (offset: number, length: number) => Buffer): Array<number[] | undefined> {
  const tables: Array<number[] | undefined> = [];
  const soi = read(0, 2);
  if (soi.length < 2 || soi[0] !== 0xff || soi[1] !== 0xd8) return tables;
  let at = 2;
  for (let segments = 0; segments < MAX_SEGMENTS; segments++) {
    const header = read(at, 4);
    if (header.length < 4 || header[0] !== 0xff) return tables;
    const marker = header[1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return tables; // SOS, EOI: the tables are all defined
    const length = header.readUInt16BE(2);
    if (length < 2) return tables;
    if (marker === 0xdb) readDqt(read(at + 4, length - 2), tables);
    at += 2 + length;
  }
  return tables;
}

/** Enough for any real file's APPn, COM and table segments before its first scan. */
const MAX_SEGMENTS = 256;

function readDqt(segment: Buffer, tables: Array<number[] | undefined>): void {
  let at = 0;
  while (at < segment.length) {
    const precision = segment[at]! >> 4;
    const id = segment[at]! & 0x0f;
    const size = precision ? 2 : 1;
    if (at + 1 + 64 * size > segment.length) return;
    const table = new Array<number>(64);
    for (let k = 0; k < 64; k++) {
      const offset = at + 1 + k * size;
      table[ZIGZAG[k]!] = precision ? segment.readUInt16BE(offset) : segment[offset]!;
    }
    if (id < 2) tables[id] = table;
    at += 1 + 64 * size;
  }
}

function distance(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < 64; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum;
}

let scaledCache: { luma: number[]; chroma: number[] }[][] | undefined;

/** Each family's tables at qualities 1–100, computed once. */
function scaledTables(): { luma: number[]; chroma: number[] }[][] {
  scaledCache ??= BASE_TABLES.map((base) =>
    Array.from({ length: 100 }, (_, i) => ({ luma: scaled(base.luma, i + 1), chroma: scaled(base.chroma, i + 1) })),
  );
  return scaledCache;
}

/** libjpeg's jpeg_quality_scaling + jpeg_add_quant_table (baseline: values kept within 1–255). */
function scaled(base: readonly number[], quality: number): number[] {
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - quality * 2;
  return base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

/** Position in the 8×8 block (row-major) of the k-th value in zigzag order. */
const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29,
  22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

// ITU T.81 Annex K tables K.1 and K.2, row-major.
const LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109,
  103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMINANCE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, ...new Array<number>(32).fill(99),
];

// mozjpeg's default (its table set 3), the same for both components.
const ROBIDOUX = [
  16, 16, 16, 18, 25, 37, 56, 85, 16, 17, 20, 27, 34, 40, 53, 75, 16, 20, 24, 31, 43, 62, 91, 135, 18, 27, 31, 40, 53, 74, 106, 156, 25, 34, 43, 53, 69, 94,
  131, 189, 37, 40, 62, 74, 94, 124, 169, 238, 56, 53, 91, 106, 131, 169, 226, 311, 85, 75, 135, 156, 189, 238, 311, 418,
];

const BASE_TABLES = [
  { luma: LUMINANCE, chroma: CHROMINANCE },
  { luma: ROBIDOUX, chroma: ROBIDOUX },
];
