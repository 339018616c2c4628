// The pixel pipeline of `x-oss-process=image/…` (../shared/spec/oss-image-process.md): a list of parsed
// ImageActions (src/process/image-process.ts) applied left to right with sharp, then encoded. Runs in the
// capture workers, for stored images (encoded bytes) and for captured video frames (raw RGB).
//
// API — one call per request:
//   applyImageActions(input, actions, options) → ProcessedImage
//     input    { kind: 'encoded', data }                           a stored image's bytes (JPEG, PNG, WebP, GIF, TIFF, AVIF…)
//              { kind: 'raw', data, width, height, channels }       pixels the engine decoded (a video frame; BMP/HEIC sources)
//     options  watermarks   key → bytes of every object watermarkKeys(actions) names (same bucket, prefetched)
//              quality      default encoder qualities (no `quality` action)
//              defaultFormat  the output format without a `format` action: the source's own format for a stored
//                           image, the snapshot's `f` for a frame (`format,auto` is resolved before this call)
//              limits       ImageLimits (OSS's by default: DEFAULT_IMAGE_LIMITS)
//              source       optional: the source's byte size and format, for `info` (FileSize) and for raw inputs
//     result   { kind: 'encoded', body, contentType, width, height, format }   format = an OutputFormat, or 'json'
//                           (`info`, `average-hue`: body is JSON, contentType application/json)
//              { kind: 'raw', data, width, height, channels, format: 'bmp' | 'heic' }: sharp cannot write these;
//                           the caller hands the pixels (sRGB, 3 or 4 channels, 8 bit, top-down) to the engine.
//   watermarkKeys(actions) → the object keys an image watermark needs (nested pre-processing included), deduplicated.
//   DEFAULT_IMAGE_LIMITS / ImageLimits: OSS's source and output limits, for the server to expose as settings.
// Errors are AppErrors: limits → 400 InvalidArgument naming the limit; a crop origin outside the image → 400
// BadRequest "Advance cut's position is out of image."; bytes sharp cannot decode → 400 InvalidArgument.
//
// Decisions where OSS is silent (documented here and in docs/architecture.md):
// - auto-orient: EXIF orientation is applied by default (OSS's doc gives default 1; its example
//   `resize,w_100/auto-orient,0` is how to *keep* the stored orientation). It is a whole-request switch
//   applied at decode, before every other action, wherever it appears (the last one wins).
// - resize: l/s pick the box by the source's orientation (landscape: l×s, portrait: s×l). `limit_1` returns
//   the image unchanged when the resize would upsample any axis (fill/pad included); `p` alone is an explicit
//   scale and may enlarge (limit does not apply to it). GIF sources are never enlarged.
// - circle: the output is a (2r+1)² square, r capped at floor((short−1)/2); rounded-corners r ≤ short/2.
//   Edges are anti-aliased over one pixel. Outside is transparent, flattened on white for JPEG (every
//   transparent area is, at encode).
// - blur: sigma = s; r bounds the kernel (minAmplitude = exp(−r²/2s²), clamped to sharp's [0.001, 1]).
// - bright v: adds 1.275·v to R, G, B (±100 → about ±half the range). contrast v: gain 1 + v/100 around 128.
// - sharpen v ∈ [50, 399]: sharp.sharpen with sigma = v/100 (the recommended 100 → sigma 1).
// - quality: on a JPEG output, q is relative to the source JPEG's own quality (estimated from its tables,
//   src/image/jpeg-quality.ts; 100 for any other source, a video frame included) and Q is capped by it
//   ("if the source quality is below Q, it is not changed"); Q wins when both are given. On WebP and AVIF
//   either acts as an absolute quality; PNG, GIF, TIFF ignore it.
// - average-hue: the mean R, G, B of the current image (alpha ignored), `{"RGB":"0xrrggbb"}` (lower-case hex).
// - info: FileSize, Format, FrameCount, ImageHeight, ImageWidth (stored, un-oriented size), ResolutionUnit,
//   XResolution, YResolution (EXIF, else the file's density), then the EXIF IFD0/Exif/GPS tags; dates as
//   `YYYY:MM:DD HH:MM:SS`, rationals as `n/d`, lists comma-separated, binary tags left out; keys sorted.
// - Animated GIF/WebP stay animated through resize (not `p`), crop, quality, interlace and format gif/webp
//   (OSS), and — where OSS is silent — through watermark, blur, bright, contrast and sharpen, frame by
//   frame; any other action (rotate, circle, rounded-corners, indexcrop, p …), or another output format,
//   works on the first frame.
// - watermark: text is rendered by Pango; OSS font names map to their families with DejaVu Sans (installed)
//   as the fallback; `size` is pixels; `shadow` is a black copy offset by size/20 px (≥ 1) at that opacity;
//   `rotate` turns the text clockwise; `fill` tiles the watermark (text and/or image) over the whole image,
//   tiles `x` px apart horizontally and `y` px vertically. `P_` fits the watermark image in a box P% of the
//   main image's size. `voffset` > 0 moves the watermark up. On an animation every frame is marked.
// - rounded-corners on a GIF (OSS: unsupported) applies to the first frame.
import exifReader from 'exif-reader';
import sharp, { type Metadata, type OverlayOptions, type Sharp } from 'sharp';
import { AppError, errors } from '../errors.js';
import type { Gravity, ImageAction, OutputFormat, WatermarkAction } from '../process/image-process.js';

export interface ImageLimits {
  /** Largest source width or height (OSS: 30,000). */
  maxSourceSide: number;
  /** Largest source width × height × frames (OSS: 250 M). */
  maxSourcePixels: number;
  /** Largest output width or height (OSS: 16,384). */
  maxOutputSide: number;
  /** Largest output width × height (OSS: 16,777,216). */
  maxOutputPixels: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = {
  maxSourceSide: 30_000,
  maxSourcePixels: 250_000_000,
  maxOutputSide: 16_384,
  maxOutputPixels: 16_777_216,
};

export type ImageInput =
  /** The bytes, or the path of a local file (libvips reads it itself: no copy of the whole file). */
  | { kind: 'encoded'; data: Buffer | string }
  | { kind: 'raw'; data: Buffer; width: number; height: number; channels: 3 | 4 };

/** Bytes of each image watermark object, by key. */
export type Watermarks = Record<string, Buffer>;

export interface ImageActionOptions {
  watermarks: Watermarks;
  quality: { jpeg: number; webp: number; avif: number };
  defaultFormat: OutputFormat;
  limits: ImageLimits;
  /**
   * For `info`: the object's byte size (defaults to the input's) and, for raw inputs, its format. For
   * `quality` on a JPEG output: the source JPEG's estimated quality (none: the source counts as 100).
   */
  source?: { byteSize?: number; format?: OutputFormat; jpegQuality?: number };
}

export type ProcessedImage =
  | { kind: 'encoded'; body: Buffer; contentType: string; width: number; height: number; format: OutputFormat | 'json' }
  | { kind: 'raw'; data: Buffer; width: number; height: number; channels: 3 | 4; format: 'bmp' | 'heic' };

export const OUTPUT_CONTENT_TYPES: Record<OutputFormat, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  bmp: 'image/bmp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  heic: 'image/heic',
  avif: 'image/avif',
};

/** Object keys the image watermarks need, nested pre-processing included, each once. */
export function watermarkKeys(actions: ImageAction[]): string[] {
  const keys = new Set<string>();
  const visit = (list: ImageAction[]) => {
    for (const action of list) {
      if (action.action === 'watermark' && action.image) {
        keys.add(action.image.key);
        visit(action.image.actions);
      }
    }
  };
  visit(actions);
  return [...keys];
}

// ---------------------------------------------------------------------------------------------------------
// Internal state: decoded pixels (8-bit sRGB, 3 or 4 channels; `pages` frames stacked vertically), or the
// decode pipeline itself with at most one resize queued, so that a leading resize of a JPEG/WebP is one
// libvips pipeline and profits from shrink-on-load.

interface Pixels {
  data: Buffer;
  width: number;
  /** One frame's height. */
  height: number;
  channels: 3 | 4;
  pages: number;
}

interface Lazy {
  image: Sharp;
  width: number;
  height: number;
  pages: number;
  resized: boolean;
}

type State = { kind: 'lazy'; lazy: Lazy } | { kind: 'pixels'; pixels: Pixels };

interface Encoding {
  format: OutputFormat;
  /** What the last `quality` action asked: q relative to the source JPEG's quality, Q absolute. */
  quality: { relative: number | undefined; absolute: number | undefined } | undefined;
  interlace: boolean;
}

interface Animation {
  delay: number[] | undefined;
  loop: number | undefined;
}

interface Context {
  options: ImageActionOptions;
  /** Source was a GIF: never enlarged. */
  gif: boolean;
  /** Watermark recursion depth. */
  depth: number;
}

const RAW = { limitInputPixels: false } as const;
const TRANSPARENT = { r: 0, g: 0, b: 0, alpha: 0 };

function rawImage(p: Pixels): Sharp {
  return sharp(p.data, { ...RAW, raw: { width: p.width, height: p.height * p.pages, channels: p.channels, ...(p.pages > 1 ? { pageHeight: p.height } : {}) } });
}

async function toPixels(image: Sharp, pages: number): Promise<Pixels> {
  const { data, info } = await image.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  let channels = info.channels;
  let buffer = data;
  if (channels !== 3 && channels !== 4) {
    // Greyscale (± alpha) that stayed single-band: widen to RGB(A).
    const alpha = channels === 2;
    const out = Buffer.alloc(info.width * info.height * (alpha ? 4 : 3));
    for (let i = 0, o = 0; i < data.length; i += channels) {
      out[o++] = data[i]!;
      out[o++] = data[i]!;
      out[o++] = data[i]!;
      if (alpha) out[o++] = data[i + 1]!;
    }
    buffer = out;
    channels = alpha ? 4 : 3;
  }
  return { data: buffer, width: info.width, height: info.height / pages, channels: channels as 3 | 4, pages };
}

async function pixelsOf(state: State): Promise<Pixels> {
  if (state.kind === 'pixels') return state.pixels;
  return toPixels(state.lazy.image, state.lazy.pages);
}

/** One sharp operation on static or animated pixels (animated: frame by frame, so no kernel bleeds across frames). */
async function perFrame(p: Pixels, op: (image: Sharp) => Sharp): Promise<Pixels> {
  if (p.pages === 1) return toPixels(op(rawImage(p)), 1);
  const frameBytes = p.width * p.height * p.channels;
  const frames: Pixels[] = [];
  for (let i = 0; i < p.pages; i++) {
    const frame = { ...p, data: p.data.subarray(i * frameBytes, (i + 1) * frameBytes), pages: 1 };
    frames.push(await toPixels(op(rawImage(frame)), 1));
  }
  const channels = frames.some((f) => f.channels === 4) ? 4 : 3;
  const data = Buffer.concat(frames.map((f) => (f.channels === channels ? f.data : addAlpha(f).data)));
  return { data, width: frames[0]!.width, height: frames[0]!.height, channels, pages: p.pages };
}

function addAlpha(p: Pixels): Pixels {
  if (p.channels === 4) return p;
  const out = Buffer.alloc((p.data.length / 3) * 4, 255);
  for (let i = 0, o = 0; i < p.data.length; i += 3, o += 4) {
    out[o] = p.data[i]!;
    out[o + 1] = p.data[i + 1]!;
    out[o + 2] = p.data[i + 2]!;
  }
  return { ...p, data: out, channels: 4 };
}

function firstFrame(p: Pixels): Pixels {
  return p.pages === 1 ? p : { ...p, data: p.data.subarray(0, p.width * p.height * p.channels), pages: 1 };
}

/** Cut the same rectangle out of every frame. */
function extract(p: Pixels, left: number, top: number, width: number, height: number): Pixels {
  if (left === 0 && top === 0 && width === p.width && height === p.height) return p;
  const out = Buffer.alloc(width * height * p.channels * p.pages);
  const rowIn = p.width * p.channels;
  const rowOut = width * p.channels;
  for (let f = 0; f < p.pages; f++) {
    for (let y = 0; y < height; y++) {
      const from = (f * p.height + top + y) * rowIn + left * p.channels;
      p.data.copy(out, (f * height + y) * rowOut, from, from + rowOut);
    }
  }
  return { ...p, data: out, width, height };
}

/** Multiply the alpha of a static image by a coverage function of the pixel (0–1). */
function mask(p: Pixels, coverage: (x: number, y: number) => number): Pixels {
  const q = addAlpha(p);
  const data = q === p ? Buffer.from(p.data) : q.data;
  for (let y = 0; y < q.height; y++) {
    for (let x = 0; x < q.width; x++) {
      const c = coverage(x, y);
      if (c < 1) {
        const i = (y * q.width + x) * 4 + 3;
        data[i] = Math.round(data[i]! * Math.max(0, c));
      }
    }
  }
  return { ...q, data };
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

// ---------------------------------------------------------------------------------------------------------
// Geometry of the actions, pure.

const atLeastOne = (n: number) => Math.max(1, Math.round(n));

type ResizeAction = Extract<ImageAction, { action: 'resize' }>;

export interface ResizePlan {
  /** Size the source is scaled to. */
  width: number;
  height: number;
  /** fill: cut out centred; pad: centred on a canvas of this size. */
  box?: { width: number; height: number; mode: 'fill' | 'pad' };
}

/** What resize does to a width × height image; undefined = returned unchanged (limit_1 refusing to enlarge). */
export function planResize(width: number, height: number, r: ResizeAction, neverEnlarge = false): ResizePlan | undefined {
  const scale = (r.percent ?? 100) / 100;
  let w = r.width;
  let h = r.height;
  if (w === undefined && h === undefined) {
    const landscape = width >= height;
    const across = landscape ? r.long : r.short;
    const down = landscape ? r.short : r.long;
    w = across;
    h = down;
  }
  const limit = r.limit || neverEnlarge;
  if (w === undefined && h === undefined) {
    if (r.percent === undefined) return undefined;
    // p alone: an explicit scale, enlarging allowed unless the source is a GIF.
    if (neverEnlarge && scale > 1) return undefined;
    return { width: atLeastOne(width * scale), height: atLeastOne(height * scale) };
  }
  if (w !== undefined) w = atLeastOne(w * scale);
  if (h !== undefined) h = atLeastOne(h * scale);
  if (w === undefined || h === undefined) {
    const f = w !== undefined ? w / width : h! / height;
    if (limit && f > 1) return undefined;
    return { width: w ?? atLeastOne(width * f), height: h ?? atLeastOne(height * f) };
  }
  const fx = w / width;
  const fy = h / height;
  switch (r.mode) {
    case 'lfit':
    case 'mfit': {
      const f = r.mode === 'lfit' ? Math.min(fx, fy) : Math.max(fx, fy);
      if (limit && f > 1) return undefined;
      return { width: atLeastOne(width * f), height: atLeastOne(height * f) };
    }
    case 'fill':
    case 'pad': {
      const f = r.mode === 'fill' ? Math.max(fx, fy) : Math.min(fx, fy);
      if (limit && f > 1) return undefined;
      const sw = r.mode === 'fill' ? Math.max(w, atLeastOne(width * f)) : Math.min(w, atLeastOne(width * f));
      const sh = r.mode === 'fill' ? Math.max(h, atLeastOne(height * f)) : Math.min(h, atLeastOne(height * f));
      return { width: sw, height: sh, box: { width: w, height: h, mode: r.mode } };
    }
    case 'fixed':
      if (limit && (fx > 1 || fy > 1)) return undefined;
      return { width: w, height: h };
  }
}

/** Top-left of a w × h box placed by gravity in a W × H image (the 3×3 grid of OSS crop/watermark). */
function gridOrigin(gravity: Gravity, W: number, H: number, w: number, h: number): { left: number; top: number } {
  const col = gravity === 'nw' || gravity === 'west' || gravity === 'sw' ? 0 : gravity === 'ne' || gravity === 'east' || gravity === 'se' ? 2 : 1;
  const row = gravity === 'nw' || gravity === 'north' || gravity === 'ne' ? 0 : gravity === 'sw' || gravity === 'south' || gravity === 'se' ? 2 : 1;
  return {
    left: col === 0 ? 0 : col === 1 ? Math.floor((W - w) / 2) : W - w,
    top: row === 0 ? 0 : row === 1 ? Math.floor((H - h) / 2) : H - h,
  };
}

export function planCrop(W: number, H: number, c: Extract<ImageAction, { action: 'crop' }>): { left: number; top: number; width: number; height: number } {
  const w = Math.min(c.width || W, W);
  const h = Math.min(c.height || H, H);
  const origin = gridOrigin(c.gravity, W, H, w, h);
  const left = origin.left + c.x;
  const top = origin.top + c.y;
  if (left >= W || top >= H) throw errors.cropOutOfImage();
  return { left, top, width: Math.min(w, W - left), height: Math.min(h, H - top) };
}

function checkOutput(width: number, height: number, limits: ImageLimits): void {
  if (width > limits.maxOutputSide || height > limits.maxOutputSide) {
    throw errors.limitExceeded(`The output image would be ${width}x${height}: its width and height may not exceed ${limits.maxOutputSide} pixels.`);
  }
  if (width * height > limits.maxOutputPixels) {
    throw errors.limitExceeded(`The output image would be ${width}x${height} = ${width * height} pixels: at most ${limits.maxOutputPixels} are allowed.`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run.

/** Actions that keep an animated source animated (OSS); anything else works on the first frame. */
function keepsAnimation(action: ImageAction): boolean {
  switch (action.action) {
    case 'resize':
      return action.percent === undefined;
    case 'crop':
    case 'quality':
    case 'interlace':
    case 'auto-orient':
    // Where OSS is silent, frame by frame (as imgproxy and Cloudinary do): a watermarked or sharpened
    // animation stays one.
    case 'watermark':
    case 'blur':
    case 'bright':
    case 'contrast':
    case 'sharpen':
      return true;
    case 'format':
      return action.format === 'gif' || action.format === 'webp';
    default:
      return false;
  }
}

function outputFormat(actions: ImageAction[], fallback: OutputFormat): OutputFormat {
  let format = fallback;
  for (const a of actions) if (a.action === 'format' && a.format !== 'auto') format = a.format;
  return format;
}

function autoOrient(actions: ImageAction[]): boolean {
  let on = true;
  for (const a of actions) if (a.action === 'auto-orient') on = a.enabled;
  return on;
}

const SHARP_TO_OSS: Record<string, OutputFormat> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif', tiff: 'tiff', avif: 'avif', bmp: 'bmp' };

function ossFormat(meta: Metadata): string {
  if (meta.format === 'heif') return meta.compression === 'av1' ? 'avif' : 'heic';
  return SHARP_TO_OSS[meta.format] ?? meta.format;
}

export async function applyImageActions(input: ImageInput, actions: ImageAction[], options: ImageActionOptions): Promise<ProcessedImage> {
  try {
    return await run(input, actions, options);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // sharp/libvips errors: the bytes (or the combination asked of them), never a server fault.
    const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    throw errors.undecodableImage(message, err);
  }
}

async function run(input: ImageInput, actions: ImageAction[], options: ImageActionOptions): Promise<ProcessedImage> {
  const limits = options.limits;
  const format = outputFormat(actions, options.defaultFormat);
  let state: State;
  let animation: Animation = { delay: undefined, loop: undefined };
  let gif = false;
  if (input.kind === 'encoded') {
    const meta = await sharp(input.data).metadata();
    if (actions.some((a) => a.action === 'info')) return info(input.data, meta, options);
    const pages = meta.pages ?? 1;
    const frameHeight = meta.pageHeight ?? meta.height;
    if (meta.width > limits.maxSourceSide || frameHeight > limits.maxSourceSide) {
      throw errors.limitExceeded(`The source image is ${meta.width}x${frameHeight}: its width and height may not exceed ${limits.maxSourceSide} pixels.`);
    }
    if (meta.width * frameHeight * pages > limits.maxSourcePixels) {
      throw errors.limitExceeded(`The source image has ${meta.width * frameHeight * pages} pixels (width x height x frames): at most ${limits.maxSourcePixels} are allowed.`);
    }
    gif = meta.format === 'gif';
    const animated = pages > 1 && (gif || meta.format === 'webp') && (format === 'gif' || format === 'webp') && actions.every(keepsAnimation);
    const orient = autoOrient(actions) && !animated;
    const image = sharp(input.data, { limitInputPixels: limits.maxSourcePixels, autoOrient: orient, ...(animated ? { pages: -1 } : {}) });
    const sideways = orient && (meta.orientation ?? 1) >= 5;
    state = { kind: 'lazy', lazy: { image, width: sideways ? frameHeight : meta.width, height: sideways ? meta.width : frameHeight, pages: animated ? pages : 1, resized: false } };
    if (animated) animation = { delay: meta.delay, loop: meta.loop };
  } else {
    const { width, height, channels, data } = input;
    if (width > limits.maxSourceSide || height > limits.maxSourceSide || width * height > limits.maxSourcePixels) {
      throw errors.limitExceeded(`The source picture is ${width}x${height}: at most ${limits.maxSourceSide} pixels a side and ${limits.maxSourcePixels} in all are allowed.`);
    }
    if (data.length !== width * height * channels) throw errors.undecodableImage(`raw input of ${data.length} bytes is not ${width}x${height}x${channels}.`);
    if (actions.some((a) => a.action === 'info')) {
      const meta = await sharp(data, { ...RAW, raw: { width, height, channels } }).metadata();
      return info(data, meta, options);
    }
    state = { kind: 'pixels', pixels: { data, width, height, channels, pages: 1 } };
  }

  const ctx: Context = { options, gif, depth: 0 };
  const encoding: Encoding = { format, quality: undefined, interlace: false };
  for (const action of actions) {
    if (action.action === 'average-hue') return averageHue(await pixelsOf(state));
    state = await applyOne(state, action, ctx, encoding);
  }
  return encode(state, encoding, animation, options);
}

async function applyOne(state: State, action: ImageAction, ctx: Context, encoding: Encoding): Promise<State> {
  const limits = ctx.options.limits;
  switch (action.action) {
    case 'quality': {
      encoding.quality = { relative: action.relative, absolute: action.absolute };
      return state;
    }
    case 'interlace':
      encoding.interlace = action.enabled;
      return state;
    case 'format':
    case 'auto-orient':
    case 'info':
    case 'average-hue':
      return state;
    case 'resize': {
      const size = state.kind === 'lazy' ? state.lazy : state.pixels;
      const plan = planResize(size.width, size.height, action, ctx.gif);
      if (!plan) return state;
      const out = plan.box ?? plan;
      checkOutput(out.width, out.height, limits);
      checkOutput(plan.width, plan.height, { ...limits, maxOutputSide: limits.maxOutputSide * 2, maxOutputPixels: limits.maxOutputPixels * 4 });
      const op = (image: Sharp) => {
        if (!plan.box) return image.resize(plan.width, plan.height, { fit: 'fill' });
        if (plan.box.mode === 'fill') return image.resize(plan.box.width, plan.box.height, { fit: 'cover', position: 'centre' });
        const c = parseInt(action.color, 16);
        return image.resize(plan.box.width, plan.box.height, { fit: 'contain', background: { r: (c >> 16) & 255, g: (c >> 8) & 255, b: c & 255, alpha: 1 } });
      };
      if (state.kind === 'lazy' && !state.lazy.resized) {
        return { kind: 'lazy', lazy: { ...state.lazy, image: op(state.lazy.image), width: out.width, height: out.height, resized: true } };
      }
      return { kind: 'pixels', pixels: await perFrame(await pixelsOf(state), op) };
    }
    case 'crop': {
      const p = await pixelsOf(state);
      const c = planCrop(p.width, p.height, action);
      return { kind: 'pixels', pixels: extract(p, c.left, c.top, c.width, c.height) };
    }
    case 'indexcrop': {
      const p = await pixelsOf(state);
      const along = action.axis === 'x' ? p.width : p.height;
      const start = action.index * action.length;
      if (start >= along) return { kind: 'pixels', pixels: p };
      const length = Math.min(action.length, along - start);
      return { kind: 'pixels', pixels: action.axis === 'x' ? extract(p, start, 0, length, p.height) : extract(p, 0, start, p.width, length) };
    }
    case 'circle': {
      const p = await pixelsOf(state);
      const short = Math.min(p.width, p.height);
      const r = 2 * action.radius + 1 > short ? Math.max(0, Math.floor((short - 1) / 2)) : action.radius;
      const side = 2 * r + 1;
      const square = extract(p, Math.floor((p.width - side) / 2), Math.floor((p.height - side) / 2), side, side);
      return { kind: 'pixels', pixels: mask(square, (x, y) => clamp01(r + 0.5 - Math.hypot(x - r, y - r))) };
    }
    case 'rounded-corners': {
      const p = await pixelsOf(state);
      const r = Math.min(action.radius, Math.floor(Math.min(p.width, p.height) / 2));
      const { width: W, height: H } = p;
      return {
        kind: 'pixels',
        pixels: mask(p, (x, y) => {
          const px = x + 0.5;
          const py = y + 0.5;
          const cx = Math.min(Math.max(px, r), W - r);
          const cy = Math.min(Math.max(py, r), H - r);
          if (cx === px || cy === py) return 1;
          return clamp01(r + 0.5 - Math.hypot(px - cx, py - cy));
        }),
      };
    }
    case 'rotate': {
      const degrees = ((action.degrees % 360) + 360) % 360;
      if (degrees === 0) return state;
      const p = await pixelsOf(state);
      const rad = (degrees * Math.PI) / 180;
      const w = Math.abs(p.width * Math.cos(rad)) + Math.abs(p.height * Math.sin(rad));
      const h = Math.abs(p.width * Math.sin(rad)) + Math.abs(p.height * Math.cos(rad));
      checkOutput(Math.floor(w), Math.floor(h), limits);
      return { kind: 'pixels', pixels: await perFrame(p, (image) => image.rotate(degrees, { background: TRANSPARENT })) };
    }
    case 'blur': {
      const minAmplitude = Math.min(1, Math.max(0.001, Math.exp(-(action.radius * action.radius) / (2 * action.sigma * action.sigma))));
      return { kind: 'pixels', pixels: await perFrame(await pixelsOf(state), (image) => image.blur({ sigma: action.sigma, minAmplitude })) };
    }
    case 'bright':
    case 'contrast': {
      const p = await pixelsOf(state);
      const a = action.action === 'contrast' ? 1 + action.value / 100 : 1;
      const b = action.action === 'contrast' ? 128 * (1 - a) : 1.275 * action.value;
      const gain = p.channels === 4 ? [a, a, a, 1] : [a, a, a];
      const offset = p.channels === 4 ? [b, b, b, 0] : [b, b, b];
      return { kind: 'pixels', pixels: await perFrame(p, (image) => image.linear(gain, offset)) };
    }
    case 'sharpen':
      return { kind: 'pixels', pixels: await perFrame(await pixelsOf(state), (image) => image.sharpen({ sigma: action.value / 100 })) };
    case 'watermark':
      return { kind: 'pixels', pixels: await watermark(await pixelsOf(state), action, ctx) };
  }
}

/** JPEG output: Q never above the source's quality, q a share of it (OSS); else the default quality. */
function jpegQuality(encoding: Encoding, options: ImageActionOptions): number {
  const asked = encoding.quality;
  if (!asked) return options.quality.jpeg;
  const source = options.source?.jpegQuality ?? 100;
  if (asked.absolute !== undefined) return Math.min(asked.absolute, source);
  return Math.max(1, Math.round((source * asked.relative!) / 100));
}

/** WebP and AVIF: q and Q are both absolute. */
function absoluteQuality(encoding: Encoding): number | undefined {
  return encoding.quality && (encoding.quality.absolute ?? encoding.quality.relative);
}

async function encode(state: State, encoding: Encoding, animation: Animation, options: ImageActionOptions): Promise<ProcessedImage> {
  const { format } = encoding;
  const size = state.kind === 'lazy' ? state.lazy : state.pixels;
  checkOutput(size.width, size.height, options.limits);
  if (format === 'bmp' || format === 'heic') {
    const p = await pixelsOf(state);
    const first = firstFrame(p);
    return { kind: 'raw', data: first.data, width: first.width, height: first.height, channels: first.channels, format };
  }
  const image = state.kind === 'lazy' ? state.lazy.image : rawImage(state.pixels);
  const pages = size.pages;
  const animated = pages > 1 ? { loop: animation.loop ?? 0, ...(animation.delay?.length === pages ? { delay: animation.delay } : {}) } : {};
  let out: Sharp;
  switch (format) {
    case 'jpg':
      out = image.flatten({ background: '#ffffff' }).jpeg({ quality: jpegQuality(encoding, options), progressive: encoding.interlace });
      break;
    case 'png':
      out = image.png({ compressionLevel: 6, progressive: encoding.interlace });
      break;
    case 'webp':
      out = image.webp({ quality: absoluteQuality(encoding) ?? options.quality.webp, effort: 2, ...animated });
      break;
    case 'avif':
      out = image.avif({ quality: absoluteQuality(encoding) ?? options.quality.avif, effort: 2 });
      break;
    case 'gif':
      out = image.gif({ ...animated });
      break;
    case 'tiff':
      out = image.tiff();
      break;
  }
  const { data, info } = await out.toBuffer({ resolveWithObject: true });
  const height = pages > 1 ? info.height / pages : info.height;
  return { kind: 'encoded', body: data, contentType: OUTPUT_CONTENT_TYPES[format], width: info.width, height, format };
}

// ---------------------------------------------------------------------------------------------------------
// JSON answers.

function json(value: unknown, width: number, height: number): ProcessedImage {
  return { kind: 'encoded', body: Buffer.from(JSON.stringify(value)), contentType: 'application/json', width, height, format: 'json' };
}

function averageHue(p: Pixels): ProcessedImage {
  const sums = [0, 0, 0];
  const n = p.width * p.height;
  // First frame only; alpha ignored.
  for (let i = 0; i < n * p.channels; i += p.channels) {
    sums[0]! += p.data[i]!;
    sums[1]! += p.data[i + 1]!;
    sums[2]! += p.data[i + 2]!;
  }
  const hex = sums.map((s) => Math.round(s / n).toString(16).padStart(2, '0')).join('');
  return json({ RGB: `0x${hex}` }, p.width, p.height);
}

/** EXIF tags stored as rationals (exif-reader hands them over as floats): printed `n/d` even when whole. */
const RATIONAL_TAGS = new Set([
  'XResolution', 'YResolution', 'ExposureTime', 'FNumber', 'CompressedBitsPerPixel', 'ShutterSpeedValue', 'ApertureValue', 'BrightnessValue',
  'ExposureBiasValue', 'MaxApertureValue', 'SubjectDistance', 'FocalLength', 'FocalPlaneXResolution', 'FocalPlaneYResolution', 'ExposureIndex',
  'DigitalZoomRatio', 'GPSLatitude', 'GPSLongitude', 'GPSAltitude', 'GPSTimeStamp', 'GPSDOP', 'GPSSpeed', 'GPSTrack', 'GPSImgDirection',
  'GPSDestLatitude', 'GPSDestLongitude', 'GPSDestBearing', 'GPSDestDistance', 'WhitePoint', 'PrimaryChromaticities', 'YCbCrCoefficients', 'ReferenceBlackWhite',
]);

/** An EXIF value as OSS prints it. */
function exifValue(value: unknown, isRational = false): string | undefined {
  if (value instanceof Date) {
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${value.getUTCFullYear()}:${pad(value.getUTCMonth() + 1)}:${pad(value.getUTCDate())} ${pad(value.getUTCHours())}:${pad(value.getUTCMinutes())}:${pad(value.getUTCSeconds())}`;
  }
  if (typeof value === 'number') return isRational ? rational(value) : String(value);
  if (typeof value === 'string') return value.replace(/\0+$/, '');
  if (Array.isArray(value)) {
    const parts = value.map((v: unknown) => exifValue(v, isRational));
    return parts.every((s) => s !== undefined) ? parts.join(', ') : undefined;
  }
  return undefined;
}

/** exif-reader turns rationals into floats: print integers as they are, others as the nearest small fraction. */
function rational(n: number): string {
  for (let d = 1; d <= 10_000; d++) {
    const num = Math.round(n * d);
    if (Math.abs(num / d - n) < 1e-9) return `${num}/${d}`;
  }
  return String(n);
}

function info(data: Buffer | string, meta: Metadata, options: ImageActionOptions): ProcessedImage {
  const fields: Record<string, string> = {};
  const height = meta.pageHeight ?? meta.height;
  fields.FileSize = String(options.source?.byteSize ?? (typeof data === 'string' ? meta.size : data.length));
  fields.Format = meta.format === 'raw' ? (options.source?.format ?? options.defaultFormat) : ossFormat(meta);
  fields.FrameCount = String(meta.pages ?? 1);
  fields.ImageHeight = String(height);
  fields.ImageWidth = String(meta.width);
  if (meta.density) {
    fields.ResolutionUnit = meta.resolutionUnit === 'cm' ? '3' : '2';
    fields.XResolution = `${meta.density}/1`;
    fields.YResolution = `${meta.density}/1`;
  }
  if (meta.exif) {
    try {
      const exif = exifReader(meta.exif);
      for (const group of [exif.Image, exif.Photo, exif.GPSInfo]) {
        for (const [key, value] of Object.entries(group ?? {})) {
          const text = exifValue(value, RATIONAL_TAGS.has(key));
          if (text !== undefined) fields[key] = text;
        }
      }
    } catch {
      // Unreadable EXIF: the basic fields still answer.
    }
  }
  const sorted = Object.fromEntries(Object.keys(fields).sort().map((k) => [k, { value: fields[k]! }]));
  return json(sorted, meta.width, height);
}

// ---------------------------------------------------------------------------------------------------------
// Watermarks.

/** OSS's font names (`type_`) → fontconfig families; DejaVu Sans catches anything not installed. */
const FONT_FAMILIES: Record<string, string> = {
  'wqy-zenhei': 'WenQuanYi Zen Hei',
  'wqy-microhei': 'WenQuanYi Micro Hei',
  fangzhengshusong: 'FZShuSong-Z01',
  fangzhengkaiti: 'FZKai-Z03',
  fangzhengheiti: 'FZHei-B01',
  fangzhengfangsong: 'FZFangSong-Z02',
  droidsansfallback: 'Droid Sans Fallback',
};

export function fontDescription(font: string, size: number): string {
  const family = FONT_FAMILIES[font.toLowerCase()] ?? font.replace(/[^\w -]/g, '');
  return `${family},DejaVu Sans ${Math.round(size)}px`;
}

const escapeMarkup = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function renderText(t: NonNullable<WatermarkAction['text']>): Promise<Pixels> {
  const draw = (color: string) =>
    sharp({ text: { text: `<span foreground="#${color}">${escapeMarkup(t.text)}</span>`, font: fontDescription(t.font, t.size), rgba: true, dpi: 72 } });
  let text = await toPixels(draw(t.color), 1);
  if (t.shadow > 0) {
    const offset = Math.max(1, Math.round(t.size / 20));
    const shadow = scaleAlpha(addAlpha(await toPixels(draw('000000'), 1)), t.shadow / 100);
    text = await toPixels(
      sharp({ create: { width: text.width + offset, height: text.height + offset, channels: 4, background: TRANSPARENT } }).composite([
        { input: shadow.data, raw: rawOf(shadow), left: offset, top: offset },
        { input: text.data, raw: rawOf(text), left: 0, top: 0 },
      ]),
      1,
    );
  }
  if (t.rotate % 360) text = await toPixels(rawImage(text).rotate(t.rotate, { background: TRANSPARENT }), 1);
  return addAlpha(text);
}

const rawOf = (p: Pixels) => ({ width: p.width, height: p.height, channels: p.channels });

function scaleAlpha(p: Pixels, factor: number): Pixels {
  if (factor >= 1) return p;
  const data = Buffer.from(p.data);
  for (let i = 3; i < data.length; i += 4) data[i] = Math.round(data[i]! * factor);
  return { ...p, data };
}

async function renderImageWatermark(w: NonNullable<WatermarkAction['image']>, main: Pixels, ctx: Context): Promise<Pixels> {
  const bytes = ctx.options.watermarks[w.key];
  if (!bytes) throw errors.watermarkMissing(w.key);
  if (ctx.depth > 2) throw errors.invalidArgument('Watermark images nest too deeply.');
  const nested: ImageActionOptions = { ...ctx.options, defaultFormat: 'png' };
  const meta = await sharp(bytes).metadata();
  let state: State = {
    kind: 'lazy',
    lazy: { image: sharp(bytes, { limitInputPixels: ctx.options.limits.maxSourcePixels, autoOrient: true }), width: (meta.orientation ?? 1) >= 5 ? meta.height : meta.width, height: (meta.orientation ?? 1) >= 5 ? meta.width : meta.height, pages: 1, resized: false },
  };
  const inner: Context = { options: nested, gif: meta.format === 'gif', depth: ctx.depth + 1 };
  const encoding: Encoding = { format: 'png', quality: undefined, interlace: false };
  for (const action of w.actions) state = await applyOne(state, action, inner, encoding);
  let p = await pixelsOf(state);
  if (w.percent !== undefined) {
    const f = Math.min((main.width * w.percent) / 100 / p.width, (main.height * w.percent) / 100 / p.height);
    p = await toPixels(rawImage(p).resize(atLeastOne(p.width * f), atLeastOne(p.height * f), { fit: 'fill' }), 1);
  }
  return addAlpha(p);
}

/** Text and image side by side: `order` picks which comes first, `align` their vertical alignment. */
async function combine(first: Pixels, second: Pixels, align: 0 | 1 | 2, interval: number): Promise<Pixels> {
  const width = first.width + interval + second.width;
  const height = Math.max(first.height, second.height);
  const top = (p: Pixels) => (align === 0 ? 0 : align === 1 ? Math.floor((height - p.height) / 2) : height - p.height);
  return addAlpha(
    await toPixels(
      sharp({ create: { width, height, channels: 4, background: TRANSPARENT } }).composite([
        { input: first.data, raw: rawOf(first), left: 0, top: top(first) },
        { input: second.data, raw: rawOf(second), left: first.width + interval, top: top(second) },
      ]),
      1,
    ),
  );
}

/** The watermark is laid out on the first frame and composited onto every frame (all the same size). */
async function watermark(main: Pixels, w: WatermarkAction, ctx: Context): Promise<Pixels> {
  const base = firstFrame(main);
  const text = w.text ? await renderText(w.text) : undefined;
  const image = w.image ? await renderImageWatermark(w.image, base, ctx) : undefined;
  let mark = text && image ? await combine(w.order === 0 ? image : text, w.order === 0 ? text : image, w.align, w.interval) : (text ?? image);
  if (!mark) return main;
  mark = scaleAlpha(mark, w.opacity / 100);
  const overlays: OverlayOptions[] = [];
  const fill = w.text?.fill ?? false;
  if (fill) {
    // Tiles x px apart across and y px down, from the top-left corner.
    const tile = await toPixels(rawImage(mark).extend({ right: w.x, bottom: w.y, background: TRANSPARENT }), 1);
    const cols = Math.ceil(base.width / tile.width);
    const rows = Math.ceil(base.height / tile.height);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) overlays.push(...placed(mark, c * tile.width, r * tile.height, base));
    }
  } else {
    const origin = gridOrigin(w.gravity, base.width, base.height, mark.width, mark.height);
    const middleRow = w.gravity === 'west' || w.gravity === 'center' || w.gravity === 'east';
    const left = origin.left + (w.gravity.endsWith('w') || w.gravity === 'west' ? w.x : w.gravity.endsWith('e') || w.gravity === 'east' ? -w.x : 0);
    const top = middleRow ? origin.top - w.voffset : origin.top + (w.gravity.startsWith('n') ? w.y : w.gravity.startsWith('s') ? -w.y : 0);
    overlays.push(...placed(mark, left, top, base));
  }
  if (overlays.length === 0) return main;
  return perFrame(main, (image) => image.composite(overlays));
}

/** An overlay at (left, top), clipped to the image (sharp refuses overlays that stick out). */
function placed(mark: Pixels, left: number, top: number, base: Pixels): OverlayOptions[] {
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(base.width, left + mark.width);
  const y1 = Math.min(base.height, top + mark.height);
  if (x1 <= x0 || y1 <= y0) return [];
  const part = extract(mark, x0 - left, y0 - top, x1 - x0, y1 - y0);
  return [{ input: part.data, raw: rawOf(part), left: x0, top: y0 }];
}
