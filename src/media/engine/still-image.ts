// Still images sharp cannot read, read (and written) by FFmpeg inside a capture worker: HEIC/HEIF with
// HEVC pixels (iPhone photos) and BMP. sharp's prebuilt libvips parses a HEIC's container but has no
// HEVC decoder, and has no BMP loader at all.
//
// Decoding runs through node-av's synchronous calls over custom in-memory I/O (no temp files, no
// protocols: `protocol_whitelist=none`), with the demuxer named, never probed, and on an allow-list of
// its own (STILL_DEMUXERS) — the video allow-list (source.ts ALLOWED_DEMUXERS) stays free of image
// demuxers.
//
// HEIF: src/media/heif.ts parses the item structure first (node-av 6.1 does not expose AVStreamGroup,
// so FFmpeg's TILE_GRID group is out of reach): the primary item, a grid's descriptor and tiles (`dimg`
// references, raster order), sizes (`ispe`), `colr` nclx, and the transformative properties. Limits are
// checked there, before a byte is decoded. FFmpeg's mov demuxer then hands out one stream per coded item
// (stream id = item id) with the item's hvcC as extradata; tiles go through one HEVC decoder (frame
// threads decode tiles in parallel), are converted to RGB with libavfilter, placed at their grid
// offsets and cropped to the grid's output size; then clap, irot and imir apply in ipma order (the
// output is display-oriented: EXIF orientation must not be applied again). Alpha auxiliary images, ICC
// profiles (colr prof/rICC), HDR gain maps and non-HEVC items (AVIF, JPEG-in-HEIF) are not read.
//
// BMP: the header's dimensions are checked, then FFmpeg's `bmp_pipe` demuxer and `bmp` decoder read it
// (bottom-up and top-down rows, 1–32 bits, RLE, bitfields); 32-bit BMPs with a real alpha come out RGBA.
import {
  AV_CODEC_FLAG_GLOBAL_HEADER,
  AV_CODEC_ID_HEVC,
  AV_PIX_FMT_BGR24,
  AV_PIX_FMT_BGRA,
  AV_PIX_FMT_RGB24,
  AV_PIX_FMT_YUV420P,
  AVCOL_PRI_BT709,
  AVCOL_RANGE_JPEG,
  AVCOL_SPC_SMPTE170M,
  AVCOL_TRC_IEC61966_2_1,
  AVERROR_EAGAIN,
  AVERROR_EOF,
  AVSEEK_CUR,
  AVSEEK_END,
  AVSEEK_SET,
  AVSEEK_SIZE,
  avGetPixFmtName,
  Codec,
  CodecContext,
  Dictionary,
  FormatContext,
  Frame,
  InputFormat,
  IOContext,
  Packet,
  Rational,
  type FFEncoderCodec,
} from 'node-av';
import { AppError, errors } from '../../errors.js';
import { FilterChain, type FilterInput } from './convert.js';
import {
  clapBox,
  colrNclxBox,
  HeifError,
  hvcCBox,
  ispeBox,
  itemData,
  itemNclx,
  itemSize,
  itemTransforms,
  parseGrid,
  parseHeif,
  pixiBox,
  writeHeif,
  type HeifFile,
  type HeifItem,
  type Transform,
} from '../heif.js';
import { describeError } from './errors.js';

export type StillFormat = 'heic' | 'bmp';

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** Demuxers still images may be read with, by format. Nothing else ever sees the bytes. */
export const STILL_DEMUXERS: Readonly<Record<StillFormat, string>> = { heic: 'mov', bmp: 'bmp_pipe' };

/** Largest side and area decoded (checked on the header, before decoding). */
export const MAX_STILL_SIDE = 30_000;
export const MAX_STILL_PIXELS = 250_000_000;
/** Tiles in one HEIF grid at most (an iPhone 48 Mpx photo has 96). */
const MAX_TILES = 1024;
/** Largest single-image HEIC encoded: HEVC level 6.2's picture size (35.6 Mpx), 16888 a side. */
const MAX_HEVC_SIDE = 16_888;
const MAX_HEVC_PIXELS = 35_651_584;

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);

const notDecodable = (detail: string, cause?: unknown) =>
  errors.invalidArgument(`The image is not a HEIC or BMP image FFmpeg can decode (${detail}).`, cause);

function checkLimits(width: number, height: number): void {
  if (width > MAX_STILL_SIDE || height > MAX_STILL_SIDE || width * height > MAX_STILL_PIXELS) {
    throw errors.limitExceeded(
      `The image is ${width}x${height} pixels: images over ${MAX_STILL_SIDE} pixels a side or ${MAX_STILL_PIXELS / 1e6} megapixels are not decoded.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Sniffing

/** BMP header: width, height (negative: top-down rows), bits per pixel. */
function bmpHeader(head: Buffer): { width: number; height: number; bits: number } | undefined {
  if (head.length < 26 || head[0] !== 0x42 || head[1] !== 0x4d) return undefined;
  const dib = head.readUInt32LE(14);
  if (dib === 12) return { width: head.readUInt16LE(18), height: head.readUInt16LE(20), bits: head.length >= 26 ? head.readUInt16LE(24) : 0 };
  if (![16, 40, 52, 56, 64, 108, 124].includes(dib) || head.length < 30) return undefined;
  return { width: head.readInt32LE(18), height: head.readInt32LE(22), bits: head.readUInt16LE(28) };
}

/** What a file's first bytes (≥ 32 of them) say it is, among the still formats FFmpeg reads here. */
export function sniffStillImage(head: Buffer): StillFormat | undefined {
  const bmp = bmpHeader(head);
  if (bmp) {
    const offset = head.readUInt32LE(10);
    if (bmp.width > 0 && bmp.height !== 0 && [1, 2, 4, 8, 16, 24, 32].includes(bmp.bits) && offset >= 26) return 'bmp';
    return undefined;
  }
  if (head.length < 12 || head.toString('latin1', 4, 8) !== 'ftyp') return undefined;
  const size = head.readUInt32BE(0);
  if (size < 16) return undefined;
  const brands = [head.toString('latin1', 8, 12)];
  for (let at = 16; at + 4 <= Math.min(size, head.length); at += 4) brands.push(head.toString('latin1', at, at + 4));
  // AVIF (avif/avis brands, often alongside mif1) is sharp's own.
  if (brands.some((b) => b === 'avif' || b === 'avis')) return undefined;
  return brands.some((b) => HEIF_BRANDS.has(b)) ? 'heic' : undefined;
}

// ---------------------------------------------------------------------------------------------
// Demuxing from memory

/** Opens `data` with the named demuxer (on the allow-list) over custom I/O; `use` reads it. */
function withDemuxer<T>(data: Buffer, format: StillFormat, use: (fmt: FormatContext) => T): T {
  const name = STILL_DEMUXERS[format];
  const iformat = InputFormat.findInputFormat(name);
  if (!iformat) throw errors.internal(new Error(`demuxer ${name} missing from this FFmpeg build`));
  let position = 0;
  const io = new IOContext();
  io.allocContextWithCallbacks(
    64 * 1024,
    0,
    (n: number) => {
      if (position >= data.length) return AVERROR_EOF;
      const chunk = data.subarray(position, Math.min(data.length, position + n));
      position += chunk.length;
      return chunk;
    },
    undefined,
    (offset: bigint, whence: number) => {
      if (whence & AVSEEK_SIZE) return BigInt(data.length);
      const mode = whence & 3;
      const base = mode === AVSEEK_CUR ? position : mode === AVSEEK_END ? data.length : mode === AVSEEK_SET ? 0 : -1;
      const next = base + Number(offset);
      if (base < 0 || next < 0) return -1n;
      position = next;
      return BigInt(position);
    },
  );
  const fmt = new FormatContext();
  fmt.allocContext();
  fmt.pb = io;
  const options = Dictionary.fromObject({ format_whitelist: name, protocol_whitelist: 'none' });
  const opened = fmt.openInputSync('', iformat, options);
  options.free();
  if (opened < 0) {
    fmt.freeContext();
    io.freeContext();
    throw notDecodable(`the ${name} demuxer says: ${describeError(opened)}`);
  }
  try {
    return use(fmt);
  } finally {
    fmt.closeInputSync();
    fmt.freeContext();
    io.freeContext();
  }
}

// ---------------------------------------------------------------------------------------------
// Filter graphs (pixel format conversions)

/** A filter chain whose failures are the image's (400), not the server's. */
class Graph {
  private readonly chain: FilterChain;

  constructor(input: FilterInput, chain: string) {
    this.chain = new FilterChain(input, chain);
  }

  run(frame: Frame): Frame {
    const out = this.chain.run(frame);
    if (typeof out === 'number') throw notDecodable(`pixel conversion failed: ${describeError(out)}`);
    return out;
  }

  free(): void {
    this.chain.free();
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface StillDecodeOptions {
  /** Decoder threads (HEVC frame threads decode grid tiles in parallel). Default 1. */
  threads?: number;
}

/** A HEIC/HEIF (HEVC) or BMP file → 8-bit RGB(A) pixels, top-left first, display-oriented. */
export function decodeStillImage(data: Buffer, options: StillDecodeOptions = {}): RawImage {
  const format = sniffStillImage(data.subarray(0, 256));
  if (format === 'bmp') return decodeBmp(data, options);
  if (format === 'heic') return decodeHeic(data, options);
  throw notDecodable('neither a BMP header nor a HEIF ftyp box');
}

/** The scale filter's words for an H.273 matrix and range. */
function scaleInput(matrix: number | undefined, fullRange: boolean | undefined): string {
  const names: Record<number, string> = { 1: 'bt709', 5: 'bt470bg', 6: 'smpte170m', 9: 'bt2020', 10: 'bt2020' };
  const m = matrix !== undefined ? names[matrix] : undefined;
  const parts = [`in_color_matrix=${m ?? 'auto'}`];
  if (fullRange !== undefined) parts.push(`in_range=${fullRange ? 'full' : 'limited'}`);
  return parts.join(':');
}

function decodeHeic(data: Buffer, options: StillDecodeOptions): RawImage {
  let file: HeifFile;
  try {
    file = parseHeif(data);
  } catch (err) {
    throw notDecodable(`its HEIF boxes are malformed: ${(err as Error).message}`, err);
  }
  const primary = file.items.get(file.primary);
  if (!primary) throw notDecodable(`the primary item ${file.primary} is not described`);

  // The layout, from the boxes: tiles (raster order) and the canvas; limits before anything is decoded.
  let tiles: HeifItem[];
  let columns = 1;
  let outWidth: number;
  let outHeight: number;
  try {
    if (primary.type === 'grid') {
      const grid = parseGrid(itemData(file, data, primary, 64));
      const ids = file.references.get('dimg')?.get(primary.id) ?? [];
      if (ids.length !== grid.rows * grid.columns) throw new HeifError(`grid of ${grid.rows}x${grid.columns} has ${ids.length} tiles`);
      if (ids.length > MAX_TILES) throw new HeifError(`grid has ${ids.length} tiles`);
      tiles = ids.map((id) => {
        const t = file.items.get(id);
        if (!t) throw new HeifError(`grid tile ${id} is not described`);
        return t;
      });
      columns = grid.columns;
      outWidth = grid.width;
      outHeight = grid.height;
      checkLimits(outWidth, outHeight);
      const tile = itemSize(tiles[0]!);
      if (!tile) throw new HeifError('grid tiles have no size (ispe)');
      checkLimits(tile.width * grid.columns, tile.height * grid.rows);
      if (tile.width * grid.columns < outWidth || tile.height * grid.rows < outHeight) throw new HeifError('grid tiles do not cover the image');
    } else {
      tiles = [primary];
      const size = itemSize(primary);
      if (!size) throw new HeifError('the primary image has no size (ispe)');
      outWidth = size.width;
      outHeight = size.height;
      checkLimits(outWidth, outHeight);
    }
    for (const t of tiles) {
      if (t.type !== 'hvc1') throw new HeifError(`image item of type ${t.type}, not HEVC (hvc1)`);
      itemData(file, data, t); // every byte of every tile inside the file: truncation found here
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw notDecodable(err instanceof HeifError ? err.message : String(err), err);
  }
  if (outWidth <= 0 || outHeight <= 0) throw notDecodable('the image has no pixels');

  const nclx = itemNclx(primary) ?? itemNclx(tiles[0]!);
  const chain = `scale=flags=bicubic:${scaleInput(nclx?.matrix, nclx?.fullRange)},format=rgb24`;
  const canvas = Buffer.alloc(outWidth * outHeight * 3);
  const placed = new Set<number>();
  const position = new Map(tiles.map((t, i) => [t.id, i]));

  withDemuxer(data, 'heic', (fmt) => {
    const streams = fmt.streams ?? [];
    const decoders = new Map<number, CodecContext>(); // by stream index
    const graphs = new Map<string, Graph>();
    const frame = new Frame();
    frame.alloc();
    const packet = new Packet();
    packet.alloc();
    // Tile offsets: every tile of a grid has the size of the first (HEIF requires it).
    const first = itemSize(tiles[0]!)!;
    const place = (dec: CodecContext) => {
      for (;;) {
        const ret = dec.receiveFrameSync(frame);
        if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
        if (ret < 0) throw notDecodable(`the HEVC decoder says: ${describeError(ret)}`);
        try {
          if (frame.decodeErrorFlags) throw notDecodable('the HEVC data is damaged');
          const index = Number(frame.pts);
          const key = `${frame.width}x${frame.height}:${frame.format}:${frame.colorSpace}:${frame.colorRange}`;
          let graph = graphs.get(key);
          if (!graph) {
            graph = new Graph(frame, chain);
            graphs.set(key, graph);
          }
          const rgb = graph.run(frame);
          blit(rgb.toBuffer(), rgb.width, rgb.height, canvas, outWidth, outHeight, (index % columns) * first.width, Math.floor(index / columns) * first.height);
          placed.add(index);
        } finally {
          frame.unref();
        }
      }
    };
    try {
      const byItem = new Map(streams.map((s) => [s.id, s]));
      for (const t of tiles) {
        const stream = byItem.get(t.id);
        if (!stream) throw notDecodable(`FFmpeg found no stream for image item ${t.id}`);
        if (stream.codecpar.codecId !== AV_CODEC_ID_HEVC) throw notDecodable(`image item ${t.id} is not HEVC`);
        // Tiles that share a decoder configuration share a decoder.
        const config = stream.codecpar.extradata;
        const shared = [...decoders.entries()].find(([i]) => streams[i]!.codecpar.extradata?.equals(config ?? Buffer.alloc(0)));
        const dec = shared ? shared[1] : openDecoder(stream.codecpar, options.threads ?? 1);
        decoders.set(stream.index, dec);
        // The SPS (read from hvcC at open) may claim more than ispe did: checked before decoding too.
        if (dec.width > first.width || dec.height > first.height) {
          checkLimits(dec.width * columns, dec.height * Math.ceil(tiles.length / columns));
          throw notDecodable(`image item ${t.id} is ${dec.width}x${dec.height} pixels, its ispe says ${first.width}x${first.height}`);
        }
      }
      while (fmt.readFrameSync(packet) >= 0) {
        const dec = decoders.get(packet.streamIndex);
        const stream = streams[packet.streamIndex];
        const index = stream ? position.get(stream.id) : undefined;
        if (dec && index !== undefined && !placed.has(index)) {
          packet.pts = BigInt(index);
          packet.dts = BigInt(index);
          const ret = dec.sendPacketSync(packet);
          if (ret < 0 && ret !== AVERROR_EAGAIN) throw notDecodable(`the HEVC decoder says: ${describeError(ret)}`);
          place(dec);
        }
        packet.unref();
      }
      for (const dec of new Set(decoders.values())) {
        dec.sendPacketSync(null);
        place(dec);
      }
    } finally {
      for (const dec of new Set(decoders.values())) dec.freeContext();
      for (const g of graphs.values()) g.free();
      frame.free();
      packet.free();
    }
  });
  if (placed.size !== tiles.length) throw notDecodable(`${tiles.length - placed.size} of ${tiles.length} image tiles could not be decoded`);
  return applyTransforms({ data: canvas, width: outWidth, height: outHeight, channels: 3 }, itemTransforms(primary));
}

function openDecoder(par: { codecId: number } & object, threads: number): CodecContext {
  const codec = Codec.findDecoder(AV_CODEC_ID_HEVC);
  if (!codec) throw errors.internal(new Error('no HEVC decoder in this FFmpeg build'));
  const dec = new CodecContext();
  dec.allocContext3(codec);
  dec.parametersToContext(par as never);
  dec.threadCount = threads;
  const ret = dec.open2Sync(codec, null);
  if (ret < 0) {
    dec.freeContext();
    throw notDecodable(`the HEVC decoder could not be opened: ${describeError(ret)}`);
  }
  return dec;
}

/** Copies a tile's rows into the canvas at (x, y), clipped to the canvas. */
function blit(src: Buffer, w: number, h: number, dst: Buffer, dw: number, dh: number, x: number, y: number): void {
  const cols = Math.min(w, dw - x);
  for (let row = 0; row < h && y + row < dh; row++) {
    if (cols <= 0) return;
    src.copy(dst, ((y + row) * dw + x) * 3, row * w * 3, (row * w + cols) * 3);
  }
}

function decodeBmp(data: Buffer, options: StillDecodeOptions): RawImage {
  const header = bmpHeader(data)!;
  checkLimits(Math.abs(header.width), Math.abs(header.height));
  return withDemuxer(data, 'bmp', (fmt) => {
    const stream = (fmt.streams ?? [])[0];
    if (!stream) throw notDecodable('FFmpeg found no picture in the BMP');
    const codec = Codec.findDecoder(stream.codecpar.codecId);
    if (!codec) throw notDecodable('no decoder for it');
    const dec = new CodecContext();
    dec.allocContext3(codec);
    dec.parametersToContext(stream.codecpar);
    dec.threadCount = options.threads ?? 1;
    const packet = new Packet();
    packet.alloc();
    const frame = new Frame();
    frame.alloc();
    let graph: Graph | undefined;
    try {
      let ret = dec.open2Sync(codec, null);
      if (ret < 0) throw notDecodable(`the BMP decoder could not be opened: ${describeError(ret)}`);
      ret = fmt.readFrameSync(packet);
      if (ret < 0) throw notDecodable(`the BMP could not be read: ${describeError(ret)}`);
      ret = dec.sendPacketSync(packet);
      if (ret >= 0) dec.sendPacketSync(null);
      if (ret >= 0) ret = dec.receiveFrameSync(frame);
      if (ret < 0) throw notDecodable(`the BMP decoder says: ${describeError(ret)}`);
      checkLimits(frame.width, frame.height);
      const name = avGetPixFmtName(frame.format as never) ?? '';
      const alpha = /^(bgra|rgba|argb|abgr)$/.test(name);
      graph = new Graph(frame, `format=${alpha ? 'rgba' : 'rgb24'}`);
      const out = graph.run(frame);
      return { data: Buffer.from(out.toBuffer()), width: out.width, height: out.height, channels: alpha ? 4 : 3 };
    } finally {
      graph?.free();
      frame.free();
      packet.free();
      dec.freeContext();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Transformative properties (on packed pixels)

/** Applies HEIF clap, irot and imir, in order. */
export function applyTransforms(img: RawImage, transforms: readonly Transform[]): RawImage {
  let out = img;
  for (const t of transforms) {
    if (t.kind === 'clap') out = crop(out, t.width, t.height, t.horizontalOffset, t.verticalOffset);
    else if (t.kind === 'irot' && t.quarterTurns) out = rotate(out, t.quarterTurns);
    else if (t.kind === 'imir') out = mirror(out, t.axis);
  }
  return out;
}

function crop(img: RawImage, cw: number, ch: number, dx: number, dy: number): RawImage {
  const w = Math.max(1, Math.min(img.width, Math.round(cw)));
  const h = Math.max(1, Math.min(img.height, Math.round(ch)));
  const left = Math.min(img.width - w, Math.max(0, Math.round(dx + (img.width - cw) / 2)));
  const top = Math.min(img.height - h, Math.max(0, Math.round(dy + (img.height - ch) / 2)));
  if (w === img.width && h === img.height) return img;
  const c = img.channels;
  const data = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++) img.data.copy(data, y * w * c, ((top + y) * img.width + left) * c, ((top + y) * img.width + left + w) * c);
  return { data, width: w, height: h, channels: c };
}

/** Rotates anti-clockwise by quarter turns (irot's sense). */
function rotate(img: RawImage, quarterTurns: number): RawImage {
  const { width: w, height: h, channels: c, data: src } = img;
  const turns = quarterTurns & 3;
  const ow = turns === 2 ? w : h;
  const oh = turns === 2 ? h : w;
  const dst = Buffer.alloc(src.length);
  // Where source pixel (x, y) lands, as a start and a step along the source row (in output pixels).
  // Anti-clockwise: 1 → (y, w-1-x); 2 → (w-1-x, h-1-y); 3 → (h-1-y, x).
  for (let y = 0; y < h; y++) {
    let d = turns === 1 ? (w - 1) * ow + y : turns === 2 ? (h - 1 - y) * ow + w - 1 : h - 1 - y;
    const step = turns === 1 ? -ow : turns === 2 ? -1 : ow;
    let s = y * w * c;
    for (let x = 0; x < w; x++, s += c, d += step) {
      const o = d * c;
      dst[o] = src[s]!;
      dst[o + 1] = src[s + 1]!;
      dst[o + 2] = src[s + 2]!;
      if (c === 4) dst[o + 3] = src[s + 3]!;
    }
  }
  return { data: dst, width: ow, height: oh, channels: c };
}

/** imir: axis 0 mirrors about the vertical axis (left ↔ right), 1 about the horizontal (top ↔ bottom). */
function mirror(img: RawImage, axis: 0 | 1): RawImage {
  const { width: w, height: h, channels: c, data: src } = img;
  const dst = Buffer.alloc(src.length);
  const row = w * c;
  for (let y = 0; y < h; y++) {
    if (axis === 1) {
      src.copy(dst, (h - 1 - y) * row, y * row, (y + 1) * row);
      continue;
    }
    for (let x = 0; x < w; x++) src.copy(dst, y * row + (w - 1 - x) * c, y * row + x * c, y * row + (x + 1) * c);
  }
  return { data: dst, width: w, height: h, channels: c };
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Quality (1–100, as in `format,heic/quality,q_…`) → x265 CRF: 12 at 100, 22 at 75, 31 at 50, 50 at 1.
 * Linear, so that q 75–90 lands where JPEG q 75–90 does visually (CRF 16–22 on photos).
 */
export function heicCrf(quality: number): number {
  const q = Math.min(100, Math.max(1, quality));
  return Math.round(12 + (100 - q) * 0.38);
}

function check(ret: number, what: string): void {
  if (ret < 0) throw errors.internal(new Error(`${what}: ${describeError(ret)}`));
}

function validateRaw(raw: RawImage): void {
  const { width, height, channels, data } = raw;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw errors.invalidArgument(`An image of ${width}x${height} pixels cannot be encoded.`);
  if (channels !== 3 && channels !== 4) throw errors.invalidArgument(`An image with ${channels} channels cannot be encoded.`);
  if (data.length !== width * height * channels) throw errors.internal(new Error(`raw image of ${width}x${height}x${channels} has ${data.length} bytes`));
}

/** Runs one frame through an encoder; returns the packets' bytes joined. */
function encodeOne(enc: CodecContext, frame: Frame): Buffer {
  const packet = new Packet();
  packet.alloc();
  const parts: Buffer[] = [];
  try {
    const drain = () => {
      for (;;) {
        const ret = enc.receivePacketSync(packet);
        if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
        check(ret, 'encode');
        parts.push(Buffer.from(packet.data ?? Buffer.alloc(0)));
        packet.unref();
      }
    };
    check(enc.sendFrameSync(frame), 'encode');
    drain();
    check(enc.sendFrameSync(null), 'encode');
    drain();
  } finally {
    packet.free();
  }
  return Buffer.concat(parts);
}

function openEncoder(name: string, setup: (enc: CodecContext) => void, options: Record<string, string>): CodecContext {
  const codec = Codec.findEncoderByName(name as FFEncoderCodec);
  if (!codec) throw errors.internal(new Error(`no ${name} encoder in this FFmpeg build`));
  const enc = new CodecContext();
  enc.allocContext3(codec);
  enc.timeBase = new Rational(1, 1);
  setup(enc);
  // Options one by one: open2Sync frees a Dictionary it is given (node-av 6.1).
  for (const [k, v] of Object.entries(options)) {
    const ret = enc.setOption(k, v);
    if (ret < 0) {
      enc.freeContext();
      check(ret, `${name} option ${k}`);
    }
  }
  const ret = enc.open2Sync(codec, null);
  if (ret < 0) {
    enc.freeContext();
    check(ret, `open ${name}`);
  }
  return enc;
}

/** RGB(A) → BGR(A), the byte order BMP stores. */
function swapRedBlue(raw: RawImage): Buffer {
  const out = Buffer.from(raw.data);
  const c = raw.channels;
  for (let i = 0; i < out.length; i += c) {
    out[i] = raw.data[i + 2]!;
    out[i + 2] = raw.data[i]!;
  }
  return out;
}

function encodeBmp(raw: RawImage): Buffer {
  const format = raw.channels === 4 ? AV_PIX_FMT_BGRA : AV_PIX_FMT_BGR24;
  const frame = Frame.fromVideoBuffer(swapRedBlue(raw), { width: raw.width, height: raw.height, format, timeBase: { num: 1, den: 1 } });
  frame.pts = 0n;
  const enc = openEncoder('bmp', (e) => {
    e.width = raw.width;
    e.height = raw.height;
    e.pixelFormat = format;
  }, {});
  try {
    return encodeOne(enc, frame);
  } finally {
    enc.freeContext();
    frame.free();
  }
}

/** Annex B byte stream → its NAL units (start codes removed). */
export function splitAnnexB(stream: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < stream.length) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && stream[end - 1] === 0) end--;
        nals.push(stream.subarray(start, end));
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < stream.length) nals.push(stream.subarray(start));
  return nals.filter((n) => n.length > 0);
}

const nalType = (nal: Buffer) => (nal[0]! >> 1) & 0x3f;

/** An HEVCDecoderConfigurationRecord (hvcC) for one picture's VPS, SPS and PPS (8-bit 4:2:0). */
export function hevcConfigRecord(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  // profile_tier_level sits after the VPS's 2-byte NAL header and 4 bytes of fields: 12 bytes of
  // profile space/tier/idc, compatibility flags, constraint flags and level (emulation prevention removed).
  const rbsp: number[] = [];
  for (let i = 2, zeros = 0; i < vps.length && rbsp.length < 16; i++) {
    if (zeros >= 2 && vps[i] === 3) {
      zeros = 0;
      continue;
    }
    rbsp.push(vps[i]!);
    zeros = vps[i] === 0 ? zeros + 1 : 0;
  }
  if (rbsp.length < 16) throw errors.internal(new Error('HEVC VPS too short'));
  const ptl = Buffer.from(rbsp.slice(4, 16));
  const head = Buffer.from([
    1, // configurationVersion
    ...ptl, // general_profile_space … general_level_idc
    0xf0, 0x00, // min_spatial_segmentation_idc
    0xfc, // parallelismType
    0xfd, // chroma_format_idc 1 (4:2:0)
    0xf8, // bit_depth_luma_minus8
    0xf8, // bit_depth_chroma_minus8
    0x00, 0x00, // avgFrameRate
    0x0f, // constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3
    3, // numOfArrays
  ]);
  const array = (type: number, nal: Buffer) => {
    const b = Buffer.alloc(5);
    b[0] = 0x80 | type; // array_completeness
    b.writeUInt16BE(1, 1);
    b.writeUInt16BE(nal.length, 3);
    return Buffer.concat([b, nal]);
  };
  return Buffer.concat([head, array(32, vps), array(33, sps), array(34, pps)]);
}

/** libx265 refuses pictures with a side under 16 px ("Image size is too small"). */
const MIN_HEVC_SIDE = 16;

/**
 * One picture → HEVC (libx265, intra, yuv420p, full-range BT.601 matrix, sRGB tags), as a HEIF item:
 * its hvcC record and its length-prefixed NAL units. Odd sizes, and sides under libx265's smallest
 * picture (16 px), are padded by repeating the last column or row (4:2:0 needs even sizes);
 * `codedWidth`/`codedHeight` say so and a clap crops it back.
 */
export function encodeHevcImage(raw: RawImage, quality: number): { record: Buffer; data: Buffer; codedWidth: number; codedHeight: number } {
  validateRaw(raw);
  const cw = Math.max(MIN_HEVC_SIDE, raw.width + (raw.width & 1));
  const ch = Math.max(MIN_HEVC_SIDE, raw.height + (raw.height & 1));
  const rgb = padRgb(raw, cw, ch);
  const input = Frame.fromVideoBuffer(rgb, { width: cw, height: ch, format: AV_PIX_FMT_RGB24, timeBase: { num: 1, den: 1 } });
  const graph = new Graph(
    { width: cw, height: ch, format: AV_PIX_FMT_RGB24, colorSpace: AVCOL_SPC_SMPTE170M, colorRange: AVCOL_RANGE_JPEG },
    'scale=flags=bicubic:out_color_matrix=bt601:out_range=full,format=yuv420p',
  );
  let enc: CodecContext | undefined;
  try {
    const yuv = graph.run(input);
    yuv.pts = 0n;
    yuv.colorSpace = AVCOL_SPC_SMPTE170M;
    yuv.colorRange = AVCOL_RANGE_JPEG;
    yuv.colorPrimaries = AVCOL_PRI_BT709;
    yuv.colorTrc = AVCOL_TRC_IEC61966_2_1;
    enc = openEncoder(
      'libx265',
      (e) => {
        e.width = cw;
        e.height = ch;
        e.pixelFormat = AV_PIX_FMT_YUV420P;
        e.colorSpace = AVCOL_SPC_SMPTE170M;
        e.colorRange = AVCOL_RANGE_JPEG;
        e.colorPrimaries = AVCOL_PRI_BT709;
        e.colorTrc = AVCOL_TRC_IEC61966_2_1;
        e.setFlags(AV_CODEC_FLAG_GLOBAL_HEADER);
      },
      { preset: 'fast', crf: String(heicCrf(quality)), 'x265-params': 'log-level=error:info=0:keyint=1:frame-threads=1:annexb=1' },
    );
    const stream = Buffer.concat([enc.extraData ?? Buffer.alloc(0), encodeOne(enc, yuv)]);
    const nals = splitAnnexB(stream);
    const find = (t: number) => nals.find((n) => nalType(n) === t);
    const [vps, sps, pps] = [find(32), find(33), find(34)];
    if (!vps || !sps || !pps) throw errors.internal(new Error('libx265 produced no VPS/SPS/PPS'));
    const picture = nals.filter((n) => nalType(n) < 32 || nalType(n) === 39);
    const data = Buffer.concat(
      picture.flatMap((n) => {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(n.length);
        return [len, n];
      }),
    );
    return { record: hevcConfigRecord(vps, sps, pps), data, codedWidth: cw, codedHeight: ch };
  } finally {
    enc?.freeContext();
    graph.free();
    input.free();
  }
}

/** RGB of the picture at cw×ch (≥ its size), edges repeated; alpha dropped. */
function padRgb(raw: RawImage, cw: number, ch: number): Buffer {
  const c = raw.channels;
  if (c === 3 && cw === raw.width && ch === raw.height) return raw.data;
  const out = Buffer.alloc(cw * ch * 3);
  for (let y = 0; y < ch; y++) {
    const sy = Math.min(y, raw.height - 1);
    for (let x = 0; x < cw; x++) {
      const s = (sy * raw.width + Math.min(x, raw.width - 1)) * c;
      const d = (y * cw + x) * 3;
      out[d] = raw.data[s]!;
      out[d + 1] = raw.data[s + 1]!;
      out[d + 2] = raw.data[s + 2]!;
    }
  }
  return out;
}

/** The HEIF property boxes of an encoded HEVC picture (hvcC, ispe, colour, bits; clap when padded). */
export function hevcItemProperties(encoded: { record: Buffer; codedWidth: number; codedHeight: number }, width = encoded.codedWidth, height = encoded.codedHeight) {
  const props = [
    { box: hvcCBox(encoded.record), essential: true },
    { box: ispeBox(encoded.codedWidth, encoded.codedHeight) },
    { box: colrNclxBox(1, 13, 6, true) },
    { box: pixiBox([8, 8, 8]) },
  ];
  if (width !== encoded.codedWidth || height !== encoded.codedHeight) {
    props.push({ box: clapBox(width, height, encoded.codedWidth, encoded.codedHeight), essential: true });
  }
  return props;
}

/**
 * Raw pixels → a BMP (FFmpeg's bmp encoder: 24-bit, or 32-bit with alpha) or a single-image HEIC
 * (libx265, `quality` 1–100 mapped by heicCrf; alpha is dropped).
 */
export function encodeStillImage(raw: RawImage, format: StillFormat, quality: number): Buffer {
  validateRaw(raw);
  if (format === 'bmp') {
    checkLimits(raw.width, raw.height);
    return encodeBmp(raw);
  }
  if (raw.width > MAX_HEVC_SIDE || raw.height > MAX_HEVC_SIDE || raw.width * raw.height > MAX_HEVC_PIXELS) {
    throw errors.limitExceeded(`A HEIC of ${raw.width}x${raw.height} pixels is over HEVC's largest picture (${MAX_HEVC_SIDE} a side, 35.6 megapixels).`);
  }
  const encoded = encodeHevcImage(raw, quality);
  return writeHeif({ primary: 1, items: [{ id: 1, type: 'hvc1', data: encoded.data, properties: hevcItemProperties(encoded, raw.width, raw.height) }] });
}
