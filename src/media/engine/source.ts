// An opened media object inside a capture worker: demuxer (FFmpeg's, through node-av's synchronous
// calls), the video stream's decoder, and what the object is (MediaInfo). Workers keep these open
// between jobs (src/media/engine/worker.ts), so a second frame of a hot file skips open and probe.
//
// Where the demuxer reads from: a local path (FFmpeg's file protocol, nothing else allowed), or custom
// I/O whose reads go to the server over the read bridge — remote objects, and HLS, whose segments are
// read one after the other as one stream (FFmpeg's own hls demuxer, which opens URIs itself, is never
// used). Only the demuxers of the containers stillframe serves may probe the bytes.
import {
  AV_DISPOSITION_ATTACHED_PIC,
  AV_NOPTS_VALUE,
  AV_PKT_DATA_CONTENT_LIGHT_LEVEL,
  AV_PKT_DATA_DISPLAYMATRIX,
  AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
  AVCOL_PRI_UNSPECIFIED,
  AVCOL_TRC_ARIB_STD_B67,
  AVCOL_TRC_SMPTE2084,
  AVDISCARD_ALL,
  AVERROR_EOF,
  AVFMT_FLAG_GENPTS,
  AVMEDIA_TYPE_AUDIO,
  AVMEDIA_TYPE_VIDEO,
  AVSEEK_CUR,
  AVSEEK_END,
  AVSEEK_FLAG_BACKWARD,
  AVSEEK_FLAG_BYTE,
  AVSEEK_SET,
  AVSEEK_SIZE,
  avGetCodecName,
  avGetPixFmtName,
  Codec,
  CodecContext,
  Dictionary,
  FormatContext,
  IOContext,
  Packet,
  type Stream,
} from 'node-av';
import { errors } from '../../errors.js';
import { clockwiseRotation, requireVideo, type MediaInfo, type ProbeLimits, type Transfer, type VideoStream } from '../probe.js';
import type { ToneMap } from '../../config.js';
import type { SourceRef } from '../protocol.js';
import { bridgeRead } from './bridge.js';
import { Converter } from './convert.js';
import { describeError } from './errors.js';

// Demuxers for the containers stillframe serves. Everything else is refused before it can parse a byte:
// that shuts out playlist/concat/image-sequence demuxers that could open other files, and image files
// dressed up as video.
export const ALLOWED_DEMUXERS = [
  'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm', 'mpegts', 'avi', 'flv', 'asf',
  'rm', 'mpeg', 'mpegvideo', 'mp3', 'aac', 'ogg', 'flac', 'wav',
].join(',');

/** What a client is told when the bytes are not media the engine reads (FFmpeg's own words added). */
const notMedia = (code: number) =>
  errors.notMedia(
    `The object is not video or audio in a container stillframe reads (MP4/MOV, Matroska/WebM, MPEG-TS, AVI, FLV, ASF/WMV, RealMedia, MPEG-PS, MP3, AAC, Ogg, FLAC, WAV, or an HLS playlist); FFmpeg says: ${describeError(code)}.`,
  );

// Custom I/O buffer: one read of this size at a time reaches the server (block-cache granularity).
const IO_BUFFER = 256 * 1024;

const PRIMARIES: Record<number, string> = { 1: 'bt709', 2: 'unknown', 5: 'bt470bg', 6: 'smpte170m', 9: 'bt2020', 11: 'smpte431', 12: 'smpte432' };

export interface Rational {
  num: number;
  den: number;
}

/** Reads of a byte source for custom I/O: position-addressed (seekable) or one segment after another. */
interface ByteReader {
  read(length: number): Buffer | number;
  seek?(offset: bigint, whence: number): bigint;
}

function objectReader(id: string, size: number): ByteReader {
  let position = 0;
  return {
    read(length) {
      if (position >= size) return AVERROR_EOF;
      const got = bridgeRead(id, 0, position, Math.min(length, size - position));
      if (typeof got === 'number') return got;
      if (got.length === 0) return AVERROR_EOF;
      position += got.length;
      return got;
    },
    seek(offset, whence) {
      if (whence & AVSEEK_SIZE) return BigInt(size);
      const o = Number(offset);
      const base = (whence & 3) === AVSEEK_CUR ? position : (whence & 3) === AVSEEK_END ? size : 0;
      if ((whence & 3) !== AVSEEK_SET && (whence & 3) !== AVSEEK_CUR && (whence & 3) !== AVSEEK_END) return -1n;
      const next = base + o;
      if (next < 0) return -1n;
      position = next;
      return BigInt(position);
    },
  };
}

/** HLS: the init section (if any), then segments `first`, `first + 1` … read back to back, not seekable. */
function segmentReader(id: string, segments: number, hasInit: boolean, first: number): ByteReader {
  let segment = hasInit ? -1 : first;
  let position = 0;
  return {
    read(length) {
      for (;;) {
        if (segment >= segments) return AVERROR_EOF;
        const got = bridgeRead(id, segment, position, length);
        if (typeof got === 'number') return got;
        if (got.length > 0) {
          position += got.length;
          return got;
        }
        segment = segment === -1 ? first : segment + 1;
        position = 0;
      }
    },
  };
}

function openDemuxer(ref: SourceRef, hlsFirstSegment = 0): { fmt: FormatContext; io: IOContext | undefined } {
  const fmt = new FormatContext();
  fmt.allocContext();
  // MPEG program streams (VOB, MPG) carry a PTS on some packets only; the frame index needs every
  // packet's presentation time.
  fmt.setFlags(AVFMT_FLAG_GENPTS);
  const options = Dictionary.fromObject({ format_whitelist: ALLOWED_DEMUXERS, protocol_whitelist: ref.kind === 'file' ? 'file' : 'none' });
  let io: IOContext | undefined;
  let url = '';
  if (ref.kind === 'file') {
    url = `file:${ref.path}`;
  } else {
    const reader = ref.kind === 'object' ? objectReader(ref.id, ref.size) : segmentReader(ref.id, ref.segments.length, ref.hasInit, hlsFirstSegment);
    io = new IOContext();
    io.allocContextWithCallbacks(IO_BUFFER, 0, (n: number) => reader.read(n), undefined, reader.seek ? (offset: bigint, whence: number) => reader.seek!(offset, whence) : undefined);
    fmt.pb = io;
  }
  const opened = fmt.openInputSync(url, null, options);
  options.free();
  if (opened < 0) {
    io?.freeContext();
    fmt.freeContext();
    throw notMedia(opened);
  }
  return { fmt, io };
}

function ratio(r: Rational | undefined): number {
  return r && r.num > 0 && r.den > 0 ? r.num / r.den : 0;
}

function displayRotation(stream: Stream): number {
  const matrix = stream.codecpar.getCodedSideData(AV_PKT_DATA_DISPLAYMATRIX);
  if (!matrix || matrix.length < 36) return 0;
  // av_display_rotation_get(): 16.16 fixed point; the angle of the first column, counter-clockwise.
  const m = (i: number) => matrix.readInt32LE(i * 4) / 65536;
  const scale0 = Math.hypot(m(0), m(3));
  const scale1 = Math.hypot(m(1), m(4));
  if (!scale0 || !scale1) return 0;
  const counterClockwise = -(Math.atan2(m(1) / scale1, m(0) / scale0) * 180) / Math.PI;
  return clockwiseRotation(counterClockwise);
}

function transferOf(trc: number): Transfer {
  if (trc === AVCOL_TRC_SMPTE2084) return 'pq';
  if (trc === AVCOL_TRC_ARIB_STD_B67) return 'hlg';
  return 'sdr';
}

/** Brightest light in the picture (cd/m²), from HDR metadata; undefined when the file does not say. */
function peakLuminance(stream: Stream): number | undefined {
  const light = stream.codecpar.getCodedSideData(AV_PKT_DATA_CONTENT_LIGHT_LEVEL);
  const maxCll = light && light.length >= 4 ? light.readUInt32LE(0) : 0;
  if (maxCll > 0) return maxCll;
  // AVMasteringDisplayMetadata: primaries (6 rationals), white point (2), min and max luminance, flags.
  const mastering = stream.codecpar.getCodedSideData(AV_PKT_DATA_MASTERING_DISPLAY_METADATA);
  if (mastering && mastering.length >= 88 && mastering.readInt32LE(84)) {
    const den = mastering.readInt32LE(76);
    const max = den ? mastering.readInt32LE(72) / den : 0;
    if (max > 0) return max;
  }
  return undefined;
}

/** The stream frames are taken from: the first real video stream, else an attached (cover) picture. */
function chooseVideo(streams: Stream[]): Stream | undefined {
  const videos = streams.filter((s) => s.codecpar.codecType === AVMEDIA_TYPE_VIDEO && s.codecpar.width > 0);
  return videos.find((s) => !(s.disposition & AV_DISPOSITION_ATTACHED_PIC)) ?? videos[0];
}

function describeVideo(stream: Stream, startPts: bigint): VideoStream {
  const par = stream.codecpar;
  const tb = stream.timeBase;
  const rate = ratio(stream.rFrameRate) || ratio(stream.avgFrameRate);
  const sar = ratio(stream.sampleAspectRatio) || ratio(par.sampleAspectRatio) || 1;
  return {
    index: stream.index,
    codec: avGetCodecName(par.codecId) ?? 'unknown',
    width: par.width,
    height: par.height,
    rotation: displayRotation(stream),
    sampleAspect: sar,
    startTime: Number(startPts) * ratio(tb),
    frameDuration: rate > 0 && rate < 1000 ? 1 / rate : 0,
    isCoverArt: (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) !== 0,
    pixelFormat: (par.format >= 0 ? avGetPixFmtName(par.format as never) : null) ?? 'unknown',
    transfer: transferOf(par.colorTrc),
    primaries: par.colorPrimaries === AVCOL_PRI_UNSPECIFIED ? 'unknown' : (PRIMARIES[par.colorPrimaries] ?? 'other'),
  };
}

export interface SourceSettings extends ProbeLimits {
  decodeThreads: number;
  tonemap: ToneMap;
}

export class OpenSource {
  readonly info: MediaInfo;
  readonly video: VideoStream;
  readonly timeBase: Rational;
  /** pts of the stream's first frame (stream time base): `t` counts from here. */
  readonly startPts: bigint;
  /** Ticks of one nominal frame (stream time base), at least 1. */
  readonly frameTicks: bigint;
  /** Peak luminance of an HDR stream (cd/m²) when its metadata says. */
  readonly peakLuminance: number | undefined;
  readonly decoder: CodecContext;
  /** Decoded frames → pixels at the output size (graphs kept per shape). */
  readonly converter: Converter;
  /** The mov/mp4 demuxer seeks with an index of every keyframe: the first one after a seek is the last at or before the target. */
  readonly exactKeyframeIndex: boolean;
  private fmt: FormatContext;
  private io: IOContext | undefined;
  private stream: Stream;
  private readonly packet = new Packet();
  /** HLS: the segment the current demuxer started at, and whether nothing was read from it yet. */
  private hlsWindow = 0;
  private freshWindow = true;

  private constructor(
    readonly ref: SourceRef,
    demuxer: { fmt: FormatContext; io: IOContext | undefined },
    settings: SourceSettings,
  ) {
    this.fmt = demuxer.fmt;
    this.io = demuxer.io;
    this.packet.alloc();
    try {
      const found = this.fmt.findStreamInfoSync(null);
      if (found < 0) throw notMedia(found);
      const streams = this.fmt.streams ?? [];
      const chosen = chooseVideo(streams);
      const formatName = ref.kind === 'hls' ? 'hls' : (this.fmt.iformat?.name ?? 'unknown');
      const duration = ref.kind === 'hls' ? ref.segments.reduce((sum, d) => sum + d, 0) : this.fmt.duration > 0n ? Number(this.fmt.duration) / 1e6 : 0;
      const hasAudio = streams.some((s) => s.codecpar.codecType === AVMEDIA_TYPE_AUDIO);
      const startPts = chosen ? (chosen.startTime !== AV_NOPTS_VALUE ? chosen.startTime : 0n) : 0n;
      this.info = { formatName, duration, video: chosen ? describeVideo(chosen, startPts) : undefined, hasAudio };
      this.video = requireVideo(this.info, settings);
      this.stream = chosen!;
      this.startPts = startPts;
      this.timeBase = { num: chosen!.timeBase.num, den: chosen!.timeBase.den };
      const ticks = this.video.frameDuration ? Math.round((this.video.frameDuration * this.timeBase.den) / this.timeBase.num) : 1;
      this.frameTicks = BigInt(Math.max(1, ticks));
      this.peakLuminance = peakLuminance(chosen!);
      this.exactKeyframeIndex = ref.kind !== 'hls' && /\bmov\b|\bmp4\b/.test(formatName);
      // Only the video stream is read: audio and subtitle packets are dropped inside the demuxer.
      for (const s of streams) if (s.index !== chosen!.index) s.discard = AVDISCARD_ALL;
      this.decoder = openDecoder(chosen!, settings.decodeThreads);
      this.converter = new Converter({ transfer: this.video.transfer, primaries: this.video.primaries, peakLuminance: this.peakLuminance }, settings.tonemap);
    } catch (err) {
      this.closeDemuxer();
      this.packet.free();
      throw err;
    }
  }

  static open(ref: SourceRef, settings: SourceSettings): OpenSource {
    return new OpenSource(ref, openDemuxer(ref), settings);
  }

  /**
   * How long the video stream lasts (s, from its first frame to the end of its last): the stream's own
   * duration where the container records one (MP4), else the container's minus the video's late start
   * (MPEG-TS's offset), and for HLS the playlist's. 0 when nothing says.
   */
  videoDuration(): number {
    if (this.ref.kind === 'hls') return this.info.duration;
    const own = this.stream.duration;
    if (own !== AV_NOPTS_VALUE && own > 0n) return this.seconds(own);
    const containerStart = this.fmt.startTime !== AV_NOPTS_VALUE ? Number(this.fmt.startTime) / 1e6 : 0;
    return Math.max(0, this.info.duration - Math.max(0, this.seconds(this.startPts) - containerStart));
  }

  /** Seconds on the container clock of a pts in the stream's time base. */
  seconds(pts: bigint): number {
    return (Number(pts) * this.timeBase.num) / this.timeBase.den;
  }

  /** The pts (stream time base) of seconds on the container clock, rounded to the nearest tick. */
  ticks(seconds: number): bigint {
    return BigInt(Math.round((seconds * this.timeBase.den) / this.timeBase.num));
  }

  /**
   * The cover picture's single packet (audio files): FFmpeg queues attached pictures at open and after
   * each seek, so it is the video stream's first packet from the start.
   */
  coverPacket(): Packet | null {
    this.rewind();
    return this.nextPacket();
  }

  /**
   * Positions the demuxer so that reading continues from a keyframe at or before `pts` where the
   * container allows; index-less ones (MPEG-TS, FLV) may land later, which the caller checks. HLS is
   * re-opened at the segment whose playlist time holds `pts`.
   */
  seek(pts: bigint): void {
    this.decoder.flushBuffers();
    if (this.ref.kind === 'hls') {
      const target = this.seconds(pts - this.startPts);
      let segment = 0;
      let at = 0;
      for (let i = 0; i < this.ref.segments.length; i++) {
        if (at > target) break;
        segment = i;
        at += this.ref.segments[i]!;
      }
      this.reopenHls(segment);
      return;
    }
    // Not clamped to the first frame: index-less demuxers seek by decoding time, which runs ahead of
    // presentation time when there are B-frames, so the first keyframe's dts lies before startPts.
    if (this.fmt.seekFrameSync(this.stream.index, pts, AVSEEK_FLAG_BACKWARD) < 0) this.rewind();
  }

  /** Back to the very beginning of the stream (the first keyframe, wherever the demuxer's clock puts it). */
  rewind(): void {
    this.decoder.flushBuffers();
    if (this.ref.kind === 'hls') {
      this.reopenHls(0);
      return;
    }
    const early = this.startPts - this.ticks(10);
    if (this.fmt.seekFrameSync(this.stream.index, early, AVSEEK_FLAG_BACKWARD) >= 0) return;
    if (this.fmt.seekFrameSync(this.stream.index, 0n, AVSEEK_FLAG_BYTE) >= 0) return;
    if (this.fmt.seekFrameSync(this.stream.index, this.startPts, AVSEEK_FLAG_BACKWARD) >= 0) return;
    this.fmt.seekFrameSync(-1, 0n, AVSEEK_FLAG_BACKWARD);
  }

  /** The HLS window starts at segment `first`: a fresh demuxer over segments first, first + 1, …. */
  private reopenHls(first: number): void {
    // Nothing read since this window opened: it is already where it should be.
    if (first === this.hlsWindow && this.freshWindow) return;
    this.closeDemuxer();
    const demuxer = openDemuxer(this.ref, first);
    this.fmt = demuxer.fmt;
    this.io = demuxer.io;
    this.hlsWindow = first;
    if (this.fmt.findStreamInfoSync(null) < 0) throw errors.notMedia('An HLS segment could not be read.');
    const streams = this.fmt.streams ?? [];
    const same = streams.find((s) => s.index === this.stream.index && s.codecpar.codecType === AVMEDIA_TYPE_VIDEO) ?? chooseVideo(streams);
    if (!same) throw errors.notMedia(`HLS segment ${first} has no video stream.`);
    for (const s of streams) if (s.index !== same.index) s.discard = AVDISCARD_ALL;
    this.stream = same;
    this.freshWindow = true;
  }

  /** The next packet of the video stream, or null at the end. The packet is valid until the next call. */
  nextPacket(): Packet | null {
    this.packet.unref();
    this.freshWindow = false;
    for (;;) {
      // The end, or a read error mid-file (truncated, damaged): what was read so far stands. A failed
      // read of a remote object is reported by the server with the job's answer (src/media/reads.ts).
      if (this.fmt.readFrameSync(this.packet) < 0) return null;
      if (this.packet.streamIndex === this.stream.index) return this.packet;
      this.packet.unref();
    }
  }

  private closeDemuxer(): void {
    this.fmt.closeInputSync();
    this.fmt.freeContext();
    this.io?.freeContext();
    this.io = undefined;
  }

  close(): void {
    this.converter.close();
    this.decoder.freeContext();
    this.packet.free();
    this.closeDemuxer();
  }
}

function openDecoder(stream: Stream, threads: number): CodecContext {
  const codec = Codec.findDecoder(stream.codecpar.codecId);
  if (!codec) throw errors.notMedia(`The video codec ${avGetCodecName(stream.codecpar.codecId) ?? 'unknown'} is not supported.`);
  const decoder = new CodecContext();
  decoder.allocContext3(codec);
  decoder.parametersToContext(stream.codecpar);
  decoder.pktTimebase = stream.timeBase;
  decoder.threadCount = threads;
  const opened = decoder.open2Sync(codec, null);
  if (opened < 0) {
    decoder.freeContext();
    throw errors.notMedia(`The video decoder could not be opened: ${describeError(opened)}.`);
  }
  return decoder;
}
