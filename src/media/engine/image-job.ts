// Image processing inside a capture worker: `image/…` on a stored image, and the image actions after a
// snapshot (`video/snapshot,…|image/…`). The object is read whole (a local file, or through the read
// bridge), decoded by sharp — or by FFmpeg when sharp's libvips cannot (HEIC's HEVC pixels, BMP) — and
// handed to the action pipeline (src/image/actions.ts); BMP and HEIC outputs are encoded by FFmpeg too.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { applyImageActions, type ImageInput, type ImageLimits } from '../../image/actions.js';
import { bufferReader, estimateJpegQuality } from '../../image/jpeg-quality.js';
import type { OutputFormat } from '../../process/image-process.js';
import type { ImageJob, ImagePipeline, ImageResult, SourceRef } from '../protocol.js';
import { BRIDGE_MAX_READ } from '../protocol.js';
import { bridgeRead } from './bridge.js';
import { errors } from '../../errors.js';
import { decodeStillImage, encodeStillImage, sniffStillImage } from './still-image.js';

export interface ImageSettings {
  quality: { jpeg: number; webp: number; avif: number };
  limits: ImageLimits;
}

/** A whole object's bytes: a local file read at once, or remote bytes 1 MiB at a time over the bridge. */
export function readWhole(ref: SourceRef): Buffer {
  if (ref.kind === 'file') return readFileSync(ref.path);
  if (ref.kind !== 'object') throw errors.invalidArgument('An HLS playlist is not an image.');
  const bytes = Buffer.allocUnsafe(ref.size);
  let at = 0;
  while (at < ref.size) {
    const got = bridgeRead(ref.id, 0, at, Math.min(BRIDGE_MAX_READ, ref.size - at));
    // The server knows why a read failed and answers the job with that; this only stops the job.
    if (typeof got === 'number') throw errors.originFailed(`Reading the object failed (${got}).`);
    if (got.length === 0) break;
    got.copy(bytes, at);
    at += got.length;
  }
  return bytes.subarray(0, at);
}

/**
 * The format of a stored image by its first bytes: only OSS's source formats are processed (an SVG, a
 * PDF or anything else libvips might read is refused before it parses a byte).
 */
function sniffFormat(data: Buffer): OutputFormat | undefined {
  const still = sniffStillImage(data);
  if (still) return still;
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpg';
  if (data.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (data.toString('latin1', 0, 4) === 'GIF8') return 'gif';
  if (data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  const tiff = data.toString('latin1', 0, 4);
  if (tiff === 'II*\u0000' || tiff === 'MM\u0000*') return 'tiff';
  if (data.toString('latin1', 4, 8) === 'ftyp' && /^avi[fs]$/.test(data.toString('latin1', 8, 12))) return 'avif';
  return undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encoded bytes → what the action pipeline reads: sharp decodes most formats, FFmpeg HEIC and BMP. */
function inputOf(data: Buffer): { input: ImageInput; format: OutputFormat } {
  const format = sniffFormat(data);
  if (!format) throw errors.undecodableImage('the object is not a JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC or AVIF image');
  if (format === 'bmp' || format === 'heic') return { input: { kind: 'raw', ...decodeStillImage(data) }, format };
  return { input: { kind: 'encoded', data }, format };
}

function watermarkBytes(pipeline: ImagePipeline): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [key, ref] of Object.entries(pipeline.watermarks)) out[key] = readWhole(ref);
  return out;
}

/** Runs the pipeline on `input`; BMP and HEIC results are encoded here (FFmpeg), the rest by sharp. */
export async function runPipeline(
  input: ImageInput,
  pipeline: ImagePipeline,
  defaultFormat: OutputFormat,
  source: { byteSize: number; format: OutputFormat; jpegQuality?: number } | undefined,
  settings: ImageSettings,
): Promise<{ body: Buffer; contentType: string }> {
  const done = await applyImageActions(input, pipeline.actions, {
    watermarks: watermarkBytes(pipeline),
    quality: settings.quality,
    defaultFormat,
    source,
    limits: settings.limits,
  });
  if (done.kind === 'raw') {
    const body = encodeStillImage(done, done.format, settings.quality.jpeg);
    return { body, contentType: done.format === 'bmp' ? 'image/bmp' : 'image/heic' };
  }
  return { body: done.body, contentType: done.contentType };
}

/** `length` bytes of a local file from `offset` (fewer at its end). */
function readAt(fd: number, offset: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  return bytes.subarray(0, readSync(fd, bytes, 0, length, offset));
}

/**
 * A local file, from one open: its format by its first bytes and, when `quality` needs it, a JPEG's own
 * quality (read from the segments before its first scan, never the picture data).
 */
function inspectLocal(path: string, wantsQuality: boolean): { format: OutputFormat | undefined; jpegQuality: number | undefined } {
  const fd = openSync(path, 'r');
  try {
    const format = sniffFormat(readAt(fd, 0, SNIFF_BYTES));
    const jpegQuality = wantsQuality && format === 'jpg' ? estimateJpegQuality((offset, length) => readAt(fd, offset, length)) : undefined;
    return { format, jpegQuality };
  } finally {
    closeSync(fd);
  }
}

const SNIFF_BYTES = 256;

export async function processImage(job: ImageJob, settings: ImageSettings): Promise<ImageResult> {
  const t0 = performance.now();
  const { source } = job;
  // The source JPEG's quality is what `quality` scales (q) or caps (Q): only read when asked for.
  const wantsQuality = job.image.actions.some((a) => a.action === 'quality');
  // A local file sharp can read goes to libvips by path (it reads what it needs, no 2nd copy); the rest,
  // and what the engine decodes (HEIC, BMP), is read whole.
  const local = source.kind === 'file' ? inspectLocal(source.path, wantsQuality) : undefined;
  const byPath = source.kind === 'file' && local?.format !== undefined && local.format !== 'bmp' && local.format !== 'heic';
  const data = byPath ? undefined : readWhole(source);
  const t1 = performance.now();
  const { input, format } = byPath ? { input: { kind: 'encoded' as const, data: source.path }, format: local!.format! } : inputOf(data!);
  const t2 = performance.now();
  const byteSize = source.kind === 'hls' ? 0 : source.size;
  const jpegQuality = byPath ? local!.jpegQuality : wantsQuality && format === 'jpg' ? estimateJpegQuality(bufferReader(data!)) : undefined;
  const { body, contentType } = await runPipeline(input, job.image, format, { byteSize, format, jpegQuality }, settings);
  return { body, contentType, timings: { open: t1 - t0, decode: t2 - t1, encode: performance.now() - t2 } };
}
