// Media synthesizer: writes a media file from FFmpeg source filter graphs, in process, through node-av.
//
// Used for the first-run demo media (src/demo.ts) and by the test fixture kit (test/support/fixtures.ts),
// so that neither needs an ffmpeg binary. A spec says what the CLI would have been told with `-f lavfi -i`,
// `-vf`, `-c:v … -x264-params …`, `-force_key_frames`, `-metadata`, `-display_rotation`, `-output_ts_offset`,
// `-disposition attached_pic` and `-f <muxer> <muxer options>`; synthesize() does the same with the library.
//
// Why these choices:
// - Only node-av's synchronous calls are used: its async calls hop to the libuv pool per call and cost
//   2–3× more. synthesize() still returns a promise and yields to the event loop every few tens of
//   milliseconds, so a long generation (minutes of 1080p) does not freeze the process it runs in.
// - AVOptions are set one by one with setOption() on the codec and format contexts, never handed over in
//   a Dictionary: av_opt_set reports an unknown name at once (a Dictionary silently keeps leftovers), and
//   node-av 6.1.1's open2Sync frees the Dictionary it is given while the JS wrapper still owns it (a double
//   free, i.e. a segfault, at the next garbage collection).
// - Timestamps and picture types are set the way the ffmpeg CLI sets them, so files match what the CLI
//   made before: test sources mark every frame as a keyframe, so the picture type is reset on every frame
//   unless a keyframe is forced; the encoder time base is the graph's; the stream time base given to the
//   muxer is only a hint (the muxer may choose its own, packets are rescaled after the header).
// - AV1 (libsvtav1) is encoded in a child process: run as root, SVT-AV1 switches the calling thread to
//   SCHED_FIFO priority 99, and every process started from that thread afterwards (capture workers)
//   inherits it — a real-time main thread that spins while loading its modules and starves the machine.
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Codec,
  CodecContext,
  Dictionary,
  FFmpegError,
  FilterGraph,
  FormatContext,
  Frame,
  Log,
  Packet,
  Rational,
  avGetPixFmtFromName,
  avGetPixFmtName,
  avGetSampleFmtName,
  type FilterContext,
  type Stream,
} from 'node-av/lib';
import {
  AVERROR_EAGAIN,
  AVERROR_EOF,
  AVFMT_GLOBALHEADER,
  AVMEDIA_TYPE_VIDEO,
  AV_CODEC_CAP_VARIABLE_FRAME_SIZE,
  AV_CODEC_FLAG_GLOBAL_HEADER,
  AV_CODEC_ID_MJPEG,
  AV_DISPOSITION_ATTACHED_PIC,
  AV_FRAME_FLAG_KEY,
  AV_LOG_ERROR,
  AV_LOG_INFO,
  AV_NOPTS_VALUE,
  AV_PICTURE_TYPE_I,
  AV_PICTURE_TYPE_NONE,
  AV_PKT_DATA_CONTENT_LIGHT_LEVEL,
  AV_PKT_DATA_DISPLAYMATRIX,
  AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
  AV_PKT_FLAG_KEY,
  type AVPixelFormat,
  type AVSampleFormat,
  type FFEncoderCodec,
} from 'node-av/constants';

// ---------------------------------------------------------------------------------------------
// Spec

/** AVOption values by name, as the CLI would take them (`-crf 18` → `{ crf: 18 }`). */
export type AvOptions = Readonly<Record<string, string | number | boolean>>;

export interface SynthSpec {
  /** Output path. For the `hls` muxer: the playlist (segments go where `hls_segment_filename` says). */
  output: string;
  /** Muxer short name: mp4, mov, matroska, webm, mpegts, avi, flv, asf, rm, vob, hls, mp3, … */
  format: string;
  /** Muxer private options and AVFormatContext options, e.g. `{ movflags: '+faststart' }`, `{ hls_time: 1 }`. */
  formatOptions?: AvOptions;
  /** Container-level metadata tags. */
  metadata?: Readonly<Record<string, string>>;
  video?: VideoTrack;
  audio?: AudioTrack;
  /** A still picture stored as an `attached_pic` stream (ID3 APIC in MP3, cover art in MP4/MKV). */
  cover?: CoverPicture;
  /**
   * Seconds added to every timestamp of every stream (the CLI's `-output_ts_offset`): a file whose
   * first frame is at this time.
   */
  timeOffset?: number;
}

export interface VideoTrack {
  /**
   * A filter graph with no inputs and one video output, in FFmpeg's filtergraph syntax, e.g.
   * `testsrc=size=640x360:rate=25` or `color=c=gray:s=16x2:r=25,format=yuv444p,geq=…,scale=320:240`.
   * Several chains are fine (`…[a];…[b];[a][b]vstack`), the output is the graph's one open output.
   */
  graph: string;
  /** Frames to encode. The graph must produce at least this many; it is not asked for more. */
  frames: number;
  /** Encoder name as the CLI's `-c:v` takes it: libx264, libx265, libvpx-vp9, libsvtav1, mpeg4, … */
  encoder: string;
  /**
   * Encoder AVOptions, generic (`g`, `bf`, `b`, `maxrate`, `bufsize`, `threads`, `flags`,
   * `global_quality`, `keyint_min`, `sc_threshold`) and private (`preset`, `crf`, `profile`,
   * `x264-params`, `x265-params`, `svtav1-params`, `deadline`, …). `threads` defaults to `auto`, as in the CLI.
   */
  options?: AvOptions;
  /**
   * Pixel format the encoder gets (the CLI's `-pix_fmt`); the graph output is converted to it.
   * Default: the graph's output format when the encoder takes it, else the encoder's first format.
   */
  pixelFormat?: string;
  /**
   * Keyframes forced on the encoder (the CLI's `-force_key_frames`): every `n`th frame from the first
   * (`expr:eq(mod(n,N),0)`), or the frames for which the function is true. Encoders that place their own
   * keyframes (x264 keyint, vpx g, …) still do so; this only adds keyframes.
   */
  forceKeyframes?: number | ((index: number) => boolean);
  /**
   * Presentation time in seconds of each frame, for a variable frame rate (frame i is shown from
   * timestamps(i) to timestamps(i + 1)). Default: the graph's own timestamps.
   */
  timestamps?: (index: number) => number;
  /** Encoder time base as [num, den]; use a fine one (e.g. [1, 1000]) with `timestamps`. Default: the graph's. */
  timeBase?: readonly [number, number];
  /** Colour description written to the bitstream and the container. Default: what the graph's frames carry. */
  color?: ColorTags;
  /** HDR static metadata, stored as stream side data (and, for libx265, in-bitstream SEI). */
  hdr?: HdrMetadata;
  /**
   * Display rotation stored as display-matrix side data, in the legacy `rotate` tag convention: degrees
   * CLOCKWISE a player turns the stored picture to show it (a phone's portrait video: 90). Pixels are
   * stored as the graph draws them.
   */
  rotation?: number;
  /** Codec tag (fourcc) in the container, e.g. `hvc1` for HEVC in MP4 that Apple players accept. */
  codecTag?: string;
  /** Stream metadata tags. */
  metadata?: Readonly<Record<string, string>>;
}

/** Colour tags by FFmpeg's names (the values `-color_primaries`, `-color_trc`, `-colorspace`, `-color_range` take). */
export interface ColorTags {
  /** bt709, bt2020, smpte432, … */
  primaries?: string;
  /** bt709, smpte2084 (PQ), arib-std-b67 (HLG), … */
  transfer?: string;
  /** bt709, bt2020nc, smpte170m, … */
  matrix?: string;
  /** tv (limited) or pc (full). */
  range?: 'tv' | 'pc';
}

/** A CIE 1931 xy chromaticity. */
export type Chromaticity = readonly [x: number, y: number];

export interface MasteringDisplay {
  red: Chromaticity;
  green: Chromaticity;
  blue: Chromaticity;
  whitePoint: Chromaticity;
  /** cd/m² */
  minLuminance: number;
  /** cd/m² */
  maxLuminance: number;
}

export interface ContentLightLevel {
  /** MaxCLL, cd/m²: the brightest pixel of the whole content. */
  maxCll: number;
  /** MaxFALL, cd/m²: the highest frame-average light level. */
  maxFall: number;
}

export interface HdrMetadata {
  masteringDisplay?: MasteringDisplay;
  contentLight?: ContentLightLevel;
}

export interface AudioTrack {
  /** A filter graph with no inputs and one audio output, e.g. `sine=frequency=440:sample_rate=48000:duration=3`. */
  graph: string;
  /** aac, libmp3lame, libopus, … */
  encoder: string;
  /** Encoder AVOptions, e.g. `{ b: '64k' }`. */
  options?: AvOptions;
  /** Sample format the encoder gets. Default: the encoder's first. */
  sampleFormat?: string;
  /**
   * Seconds of audio at most. Default: until the graph ends; with no end in the graph, as long as the
   * video (like the CLI's `-shortest`).
   */
  duration?: number;
  metadata?: Readonly<Record<string, string>>;
}

/** An attached picture: an already encoded JPEG, or the first frame of a graph encoded with `encoder`. */
export type CoverPicture = (
  | { jpeg: Buffer }
  | { graph: string; encoder?: string; options?: AvOptions; pixelFormat?: string }
) & { metadata?: Readonly<Record<string, string>> };

export interface Synthesized {
  output: string;
  /** Video frames encoded. */
  frames: number;
  /** Audio samples encoded (per channel). */
  samples: number;
  elapsedMs: number;
}

// ---------------------------------------------------------------------------------------------
// Entry points

const SELF = fileURLToPath(import.meta.url);
// Set in the child that runs an SVT-AV1 encode: it encodes in process.
const IN_CHILD = 'STILLFRAME_SYNTHESIZE_IN_PROCESS';

/** synthesize() in a short-lived child process (the same module; tsx when running from the sources). */
function synthesizeInChild(spec: SynthSpec): Promise<Synthesized> {
  const loader = SELF.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const code = `import(${JSON.stringify(pathToFileURL(SELF).href)}).then(async (m) => process.stdout.write(JSON.stringify(await m.synthesize(JSON.parse(process.argv[1]))))).catch((e) => { process.stderr.write(String(e?.message ?? e)); process.exit(1); })`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', code, JSON.stringify(spec)], {
      env: { ...process.env, [IN_CHILD]: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Synthesized) : reject(new Error(err.trim() || `synthesize: child exited ${code}`))));
  });
}

/**
 * Writes the file the spec describes. Runs in this process — except an SVT-AV1 encode, which runs in a
 * child process (see the header) — and yields to the event loop between slices of work. Throws on any
 * FFmpeg error, naming the step; the output may then be partial.
 */
export async function synthesize(spec: SynthSpec): Promise<Synthesized> {
  if (spec.video?.encoder === 'libsvtav1' && !process.env[IN_CHILD]) return synthesizeInChild(spec);
  quietLibrary();
  const started = performance.now();
  if (!spec.video && !spec.audio) throw new Error('synthesize: nothing to write (no video, no audio)');

  const fmt = new FormatContext();
  const tracks: Track[] = [];
  let ok = false;
  try {
    check(fmt.allocOutputContext2(null, spec.format, spec.output), `muxer ${spec.format}`);
    const needsGlobalHeader = ((fmt.oformat?.flags ?? 0) & AVFMT_GLOBALHEADER) !== 0;
    for (const [name, value] of Object.entries(spec.formatOptions ?? {})) {
      check(fmt.setOption(name, String(value)), `${spec.format} option ${name}=${value}`);
    }
    if (spec.metadata) fmt.metadata = dictionary(spec.metadata);

    const offset = spec.timeOffset ?? 0;
    const video = spec.video ? openVideo(spec.video, fmt, needsGlobalHeader, offset) : undefined;
    if (video) tracks.push(video);
    if (spec.audio) {
      const limit = spec.audio.duration ?? (video ? video.duration : undefined);
      tracks.push(openAudio(spec.audio, fmt, needsGlobalHeader, offset, limit));
    }
    const cover = spec.cover ? encodeCover(spec.cover) : undefined;
    const coverStream = cover ? addCoverStream(fmt, cover, spec.cover?.metadata) : undefined;

    check(fmt.openOutputSync(), `open ${spec.output}`);
    check(fmt.writeHeaderSync(), `${spec.format} header`);
    if (cover && coverStream) writeCover(fmt, coverStream, cover.data);

    // Interleave by time: always advance the track that is furthest behind, so the muxer never has to
    // buffer one stream's packets while waiting for the other's.
    const slice = new Slicer();
    for (;;) {
      let next: Track | undefined;
      for (const t of tracks) if (!t.done && (!next || t.nextTime() < next.nextTime())) next = t;
      if (!next) break;
      next.step();
      await slice.maybeYield();
    }
    for (const t of tracks) t.finish();
    check(fmt.interleavedWriteFrameSync(null), 'flush muxer');
    check(fmt.writeTrailerSync(), `${spec.format} trailer`);
    ok = true;
    return {
      output: spec.output,
      frames: video?.count ?? 0,
      samples: tracks.find((t): t is AudioState => t instanceof AudioState)?.samples ?? 0,
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    for (const t of tracks) t.free();
    try {
      if (fmt.pb || ok) fmt.closeOutputSync();
    } catch {
      // nothing opened
    }
    fmt.freeContext();
  }
}

/**
 * Escapes a value (a file path, a text) for use as a filter option inside a filtergraph description,
 * e.g. `movie=filename=${filterValue(path)}`: both escaping levels FFmpeg applies (option, then graph).
 */
export function filterValue(value: string): string {
  const option = value.replace(/[\\':]/g, (c) => `\\${c}`);
  return option.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

// ---------------------------------------------------------------------------------------------
// Library housekeeping

let quieted = false;

/**
 * FFmpeg logs at INFO by default (x264's "using cpu capabilities", stream summaries …) straight to stderr.
 * Lower it to errors once, unless someone already chose a level.
 */
function quietLibrary(): void {
  if (quieted) return;
  quieted = true;
  if (Log.getLevel() === AV_LOG_INFO) Log.setLevel(AV_LOG_ERROR);
  // SVT-AV1 prints its own banner and settings unless told otherwise; it reads this at encoder start.
  process.env.SVT_LOG ??= '1';
}

function check(ret: number, what: string): void {
  if (ret < 0) throw new Error(`synthesize: ${what}: ${new FFmpegError(ret).message}`);
}

/** Yields to the event loop when the current slice of synchronous work has run long enough. */
class Slicer {
  private since = performance.now();
  async maybeYield(): Promise<void> {
    if (performance.now() - this.since < 40) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}

// Stream and format-context metadata setters copy the entries: no ownership problem there.
function dictionary(tags: Readonly<Record<string, string>>): Dictionary {
  return Dictionary.fromObject({ ...tags });
}

// ---------------------------------------------------------------------------------------------
// Filter graphs

interface SourceGraph {
  graph: FilterGraph;
  sink: FilterContext;
}

/**
 * Builds `description` with `tail` (e.g. `format=yuv420p,`) and a buffersink appended to its open
 * output. A description that ends with an output label (`…concat=n=2[v]`) gets a new chain from it.
 */
function buildGraph(description: string, tail: string, sinkName: 'buffersink' | 'abuffersink'): SourceGraph {
  const graph = new FilterGraph();
  graph.alloc();
  const label = /\[([^\]]+)\]\s*$/.exec(description);
  const full = label
    ? `${description.slice(0, label.index)}[${label[1]}];[${label[1]}]${tail}${sinkName}`
    : `${description},${tail}${sinkName}`;
  try {
    check(graph.parse2(full), `filter graph "${description}"`);
    check(graph.configSync(), `filter graph "${description}" (+ "${tail}${sinkName}")`);
  } catch (err) {
    graph.free();
    throw err;
  }
  const sink = graph.filters?.find((f) => f.filter?.name === sinkName);
  if (!sink) {
    graph.free();
    throw new Error(`synthesize: no ${sinkName} in "${full}"`);
  }
  return { graph, sink };
}

// ---------------------------------------------------------------------------------------------
// Tracks

interface Track {
  done: boolean;
  /** Seconds (from 0, before any offset) of the next frame this track would produce. */
  nextTime(): number;
  /** Produces, encodes and writes one frame; sets `done` at the end of the track. */
  step(): void;
  /** Drains the encoder. */
  finish(): void;
  free(): void;
}

function findEncoder(name: string): Codec {
  const codec = Codec.findEncoderByName(name as FFEncoderCodec);
  if (!codec) throw new Error(`synthesize: no encoder ${name} in this FFmpeg build`);
  return codec;
}

function applyOptions(enc: CodecContext, encoder: string, options: AvOptions): void {
  for (const [name, value] of Object.entries(options)) {
    check(enc.setOption(name, String(value)), `${encoder} option ${name}=${value}`);
  }
}

/** Shared by both tracks: encoder output → packets on the stream, with durations and the time offset. */
abstract class EncodedTrack implements Track {
  done = false;
  protected readonly packet = new Packet();
  protected readonly frame = new Frame();
  /** Packet duration by pts, for encoders that do not pass frame durations on to their packets. */
  private readonly durations = new Map<bigint, bigint>();
  private offsetTicks = 0n;

  constructor(
    protected readonly fmt: FormatContext,
    protected readonly enc: CodecContext,
    protected readonly stream: Stream,
    protected readonly label: string,
  ) {
    this.packet.alloc();
    this.frame.alloc();
  }

  abstract nextTime(): number;
  abstract step(): void;

  protected setOffset(seconds: number): void {
    const tb = this.enc.timeBase;
    this.offsetTicks = BigInt(Math.round((seconds * tb.den) / tb.num));
  }

  protected send(frame: Frame | null): void {
    if (frame) this.durations.set(frame.pts, frame.duration);
    check(this.enc.sendFrameSync(frame), `${this.label}: encode`);
    this.drain();
  }

  private drain(): void {
    for (;;) {
      const ret = this.enc.receivePacketSync(this.packet);
      if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
      check(ret, `${this.label}: encode`);
      const pkt = this.packet;
      if (pkt.duration <= 0n && pkt.pts !== AV_NOPTS_VALUE) pkt.duration = this.durations.get(pkt.pts) ?? 0n;
      this.durations.delete(pkt.pts);
      if (this.offsetTicks !== 0n) {
        if (pkt.pts !== AV_NOPTS_VALUE) pkt.pts += this.offsetTicks;
        if (pkt.dts !== AV_NOPTS_VALUE) pkt.dts += this.offsetTicks;
      }
      pkt.streamIndex = this.stream.index;
      pkt.rescaleTs(this.enc.timeBase, this.stream.timeBase);
      check(this.fmt.interleavedWriteFrameSync(pkt), `${this.label}: write packet`);
    }
  }

  finish(): void {
    this.send(null);
  }

  free(): void {
    this.packet.free();
    this.frame.free();
    this.enc.freeContext();
  }
}

class VideoState extends EncodedTrack {
  count = 0;
  /** Seconds the video lasts (end of its last frame), for an audio track that follows the video. */
  readonly duration: number;
  /** The frame pulled to learn the graph's colour description, encoded first. */
  private pending: Frame | null;

  constructor(
    fmt: FormatContext,
    enc: CodecContext,
    stream: Stream,
    private readonly spec: VideoTrack,
    private readonly source: SourceGraph,
    private readonly first: Frame,
    private readonly sinkTimeBase: Rational,
    offset: number,
  ) {
    super(fmt, enc, stream, `video ${spec.encoder}`);
    this.pending = first;
    this.setOffset(offset);
    this.duration = this.timeOf(spec.frames);
  }

  /** Start of frame `index` in seconds; for index == frames, the end of the last frame. */
  private timeOf(index: number): number {
    if (this.spec.timestamps) {
      if (index < this.spec.frames) return this.spec.timestamps(index);
      const last = this.spec.timestamps(index - 1);
      return last + (index > 1 ? last - this.spec.timestamps(index - 2) : 0);
    }
    const rate = this.source.sink.buffersinkGetFrameRate();
    return rate.num > 0 ? (index * rate.den) / rate.num : index * (this.sinkTimeBase.num / this.sinkTimeBase.den);
  }

  nextTime(): number {
    return this.timeOf(this.count);
  }

  step(): void {
    const frame = this.pending ?? this.pull();
    this.pending = null;
    const index = this.count;
    const tb = this.enc.timeBase;
    const ticks = (s: number) => BigInt(Math.round((s * tb.den) / tb.num));
    if (this.spec.timestamps) {
      frame.pts = ticks(this.timeOf(index));
      frame.duration = ticks(this.timeOf(index + 1)) - frame.pts;
    } else {
      // Graph timestamps, rescaled in case the caller chose another encoder time base.
      const sinkTb = this.sinkTimeBase;
      if (sinkTb.num !== tb.num || sinkTb.den !== tb.den) {
        frame.pts = (frame.pts * BigInt(sinkTb.num * tb.den)) / BigInt(sinkTb.den * tb.num);
        frame.duration = (frame.duration * BigInt(sinkTb.num * tb.den)) / BigInt(sinkTb.den * tb.num);
      }
    }
    const force = this.spec.forceKeyframes;
    const key = typeof force === 'number' ? index % force === 0 : force ? force(index) : false;
    if (key) {
      frame.pictType = AV_PICTURE_TYPE_I;
      frame.flags = frame.flags | AV_FRAME_FLAG_KEY;
    } else {
      frame.pictType = AV_PICTURE_TYPE_NONE;
      frame.flags = frame.flags & ~AV_FRAME_FLAG_KEY;
    }
    tagFrame(frame, this.enc);
    this.send(frame);
    frame.unref();
    this.count++;
    if (this.count >= this.spec.frames) this.done = true;
  }

  private pull(): Frame {
    const ret = this.source.sink.buffersinkGetFrameSync(this.frame);
    if (ret === AVERROR_EOF) {
      throw new Error(`synthesize: the video graph ended after ${this.count} frames, ${this.spec.frames} were asked for`);
    }
    check(ret, 'video graph');
    return this.frame;
  }

  override free(): void {
    super.free();
    this.first.free();
    this.source.graph.free();
  }
}

/** Frames carry the same colour description as the encoder (what the bitstream says). */
function tagFrame(frame: Frame, enc: CodecContext): void {
  frame.colorPrimaries = enc.colorPrimaries;
  frame.colorTrc = enc.colorTrc;
  frame.colorSpace = enc.colorSpace;
  frame.colorRange = enc.colorRange;
}

function openVideo(spec: VideoTrack, fmt: FormatContext, globalHeader: boolean, offset: number): VideoState {
  if (!(spec.frames > 0)) throw new Error('synthesize: video.frames must be positive');
  const codec = findEncoder(spec.encoder);
  const pixelFormat = choosePixelFormat(spec, codec);
  const source = buildGraph(spec.graph, `format=${pixelFormat},`, 'buffersink');
  const enc = new CodecContext();
  let first: Frame | undefined;
  try {
    const sink = source.sink;
    const sinkTb = sink.buffersinkGetTimeBase();
    const rate = sink.buffersinkGetFrameRate();
    const sar = sink.buffersinkGetSampleAspectRatio();
    // The first frame tells the colour description the graph produced (zscale, scale out_range, …).
    first = new Frame();
    first.alloc();
    const ret = sink.buffersinkGetFrameSync(first);
    if (ret === AVERROR_EOF) throw new Error('synthesize: the video graph produced no frame');
    check(ret, 'video graph');

    enc.allocContext3(codec);
    enc.width = sink.buffersinkGetWidth();
    enc.height = sink.buffersinkGetHeight();
    enc.pixelFormat = sink.buffersinkGetFormat() as AVPixelFormat;
    enc.timeBase = spec.timeBase ? new Rational(spec.timeBase[0], spec.timeBase[1]) : sinkTb;
    if (rate.num > 0) enc.framerate = rate;
    if (sar.num > 0) enc.sampleAspectRatio = sar;
    enc.colorPrimaries = first.colorPrimaries;
    enc.colorTrc = first.colorTrc;
    enc.colorSpace = first.colorSpace;
    enc.colorRange = first.colorRange;
    if (globalHeader) enc.setFlags(AV_CODEC_FLAG_GLOBAL_HEADER);
    const options: Record<string, string | number | boolean> = { threads: 'auto', ...spec.options };
    if (spec.color?.primaries) options.color_primaries = spec.color.primaries;
    if (spec.color?.transfer) options.color_trc = spec.color.transfer;
    if (spec.color?.matrix) options.colorspace = spec.color.matrix;
    if (spec.color?.range) options.color_range = spec.color.range;
    if (spec.hdr && spec.encoder === 'libx265') {
      // libx265 takes HDR SEI from AVCodecContext.decoded_side_data, which node-av cannot set: say it in x265's words.
      const extra = x265HdrParams(spec.hdr);
      const prior = options['x265-params'];
      options['x265-params'] = prior ? `${prior}:${extra}` : extra;
    }
    applyOptions(enc, spec.encoder, options);
    check(enc.open2Sync(codec, null), `open ${spec.encoder}`);

    const stream = fmt.newStream(null);
    check(stream.codecpar.fromContext(enc), 'video stream parameters');
    stream.timeBase = enc.timeBase;
    if (rate.num > 0 && !spec.timestamps) stream.avgFrameRate = rate;
    if (sar.num > 0) stream.sampleAspectRatio = sar;
    if (spec.codecTag) stream.codecpar.codecTag = spec.codecTag;
    if (spec.metadata) stream.metadata = dictionary(spec.metadata);
    if (spec.rotation) {
      check(stream.codecpar.addCodedSideData(AV_PKT_DATA_DISPLAYMATRIX, displayMatrix(spec.rotation)), 'display matrix');
    }
    if (spec.hdr?.masteringDisplay) {
      check(stream.codecpar.addCodedSideData(AV_PKT_DATA_MASTERING_DISPLAY_METADATA, masteringDisplayData(spec.hdr.masteringDisplay)), 'mastering display');
    }
    if (spec.hdr?.contentLight) {
      check(stream.codecpar.addCodedSideData(AV_PKT_DATA_CONTENT_LIGHT_LEVEL, contentLightData(spec.hdr.contentLight)), 'content light level');
    }
    return new VideoState(fmt, enc, stream, spec, source, first, sinkTb, offset);
  } catch (err) {
    first?.free();
    enc.freeContext();
    source.graph.free();
    throw err;
  }
}

function choosePixelFormat(spec: VideoTrack, codec: Codec): string {
  const supported = codec.pixelFormats ?? [];
  if (spec.pixelFormat) {
    const wanted = avGetPixFmtFromName(spec.pixelFormat);
    if (supported.length && !supported.includes(wanted)) {
      throw new Error(`synthesize: ${spec.encoder} does not take ${spec.pixelFormat} (it takes ${supported.map(avGetPixFmtName).join(', ')})`);
    }
    return spec.pixelFormat;
  }
  // Without a choice, let the graph negotiate among the encoder's formats (as the CLI does).
  return supported.length ? supported.map(avGetPixFmtName).join('|') : 'yuv420p';
}

class AudioState extends EncodedTrack {
  samples = 0;
  private readonly rate: number;

  constructor(
    fmt: FormatContext,
    enc: CodecContext,
    stream: Stream,
    private readonly source: SourceGraph,
    private readonly limit: number | undefined,
    label: string,
    offset: number,
  ) {
    super(fmt, enc, stream, label);
    this.rate = enc.sampleRate;
    this.setOffset(offset);
  }

  nextTime(): number {
    return this.samples / this.rate;
  }

  step(): void {
    const ret = this.source.sink.buffersinkGetFrameSync(this.frame);
    if (ret === AVERROR_EOF) {
      this.done = true;
      return;
    }
    check(ret, 'audio graph');
    const frame = this.frame;
    const max = this.limit === undefined ? Infinity : Math.round(this.limit * this.rate) - this.samples;
    // Cutting a frame short only lowers its sample count: the buffer stays as it is.
    if (frame.nbSamples > max) frame.nbSamples = Math.max(0, max);
    if (frame.nbSamples > 0) {
      frame.pts = BigInt(this.samples);
      frame.duration = BigInt(frame.nbSamples);
      this.samples += frame.nbSamples;
      this.send(frame);
    }
    frame.unref();
    if (this.limit !== undefined && this.samples >= Math.round(this.limit * this.rate)) this.done = true;
  }

  override free(): void {
    super.free();
    this.source.graph.free();
  }
}

function openAudio(spec: AudioTrack, fmt: FormatContext, globalHeader: boolean, offset: number, limit: number | undefined): AudioState {
  const codec = findEncoder(spec.encoder);
  const formats = codec.sampleFormats ?? [];
  const sampleFormat = spec.sampleFormat ?? (formats[0] !== undefined ? avGetSampleFmtName(formats[0]) : null);
  const formatFilter = sampleFormat ? `aformat=sample_fmts=${sampleFormat}` : 'anull';
  // First build: what rate and layout does the graph give? The encoder must be opened to know its frame
  // size, and the graph must then cut frames to that size: build it again with the cutting filter.
  const probe = buildGraph(spec.graph, `${formatFilter},`, 'abuffersink');
  let rate = probe.sink.buffersinkGetSampleRate();
  const layout = probe.sink.buffersinkGetChannelLayout();
  const format = probe.sink.buffersinkGetFormat() as AVSampleFormat;
  probe.graph.free();
  const rates = codec.supportedSamplerates ?? [];
  let resample = '';
  if (rates.length && !rates.includes(rate)) {
    rate = rates.includes(48000) ? 48000 : rates[0]!;
    resample = `:sample_rates=${rate}`;
  }

  const enc = new CodecContext();
  try {
    enc.allocContext3(codec);
    enc.sampleRate = rate;
    enc.sampleFormat = format;
    enc.channelLayout = layout;
    enc.timeBase = new Rational(1, rate);
    if (globalHeader) enc.setFlags(AV_CODEC_FLAG_GLOBAL_HEADER);
    applyOptions(enc, spec.encoder, { threads: 'auto', ...spec.options });
    check(enc.open2Sync(codec, null), `open ${spec.encoder}`);
  } catch (err) {
    enc.freeContext();
    throw err;
  }
  const fixedSize = enc.frameSize > 0 && (codec.capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) === 0;
  const chunk = fixedSize ? `asetnsamples=n=${enc.frameSize}:p=0,` : '';
  let source: SourceGraph;
  try {
    source = buildGraph(spec.graph, `${formatFilter}${resample},${chunk}`, 'abuffersink');
  } catch (err) {
    enc.freeContext();
    throw err;
  }
  const stream = fmt.newStream(null);
  check(stream.codecpar.fromContext(enc), 'audio stream parameters');
  stream.timeBase = enc.timeBase;
  if (spec.metadata) stream.metadata = dictionary(spec.metadata);
  return new AudioState(fmt, enc, stream, source, limit, `audio ${spec.encoder}`, offset);
}

// ---------------------------------------------------------------------------------------------
// Attached picture

interface EncodedPicture {
  data: Buffer;
  codecId: CodecContext['codecId'];
  width: number;
  height: number;
}

function encodeCover(cover: CoverPicture): EncodedPicture {
  if ('jpeg' in cover) {
    const { width, height } = jpegSize(cover.jpeg);
    return { data: cover.jpeg, codecId: AV_CODEC_ID_MJPEG, width, height };
  }
  const encoder = cover.encoder ?? 'mjpeg';
  const codec = findEncoder(encoder);
  // JPEG is full range: convert to it, rather than let the graph pick a limited-range format mjpeg refuses.
  const tail = codec.id === AV_CODEC_ID_MJPEG && !cover.pixelFormat
    ? 'scale=out_range=full,format=yuv420p,'
    : `format=${choosePixelFormat({ graph: cover.graph, frames: 1, encoder, pixelFormat: cover.pixelFormat }, codec)},`;
  const source = buildGraph(cover.graph, tail, 'buffersink');
  const enc = new CodecContext();
  const frame = new Frame();
  const packet = new Packet();
  frame.alloc();
  packet.alloc();
  try {
    check(source.sink.buffersinkGetFrameSync(frame), 'cover graph');
    enc.allocContext3(codec);
    enc.width = frame.width;
    enc.height = frame.height;
    enc.pixelFormat = frame.format as AVPixelFormat;
    enc.timeBase = new Rational(1, 25);
    enc.colorRange = frame.colorRange;
    applyOptions(enc, encoder, cover.options ?? {});
    check(enc.open2Sync(codec, null), `open ${encoder}`);
    frame.pts = 0n;
    frame.pictType = AV_PICTURE_TYPE_NONE;
    check(enc.sendFrameSync(frame), 'encode cover');
    check(enc.sendFrameSync(null), 'encode cover');
    check(enc.receivePacketSync(packet), 'encode cover');
    const data = packet.data;
    if (!data) throw new Error('synthesize: the cover encoder returned an empty packet');
    return { data: Buffer.from(data), codecId: codec.id, width: enc.width, height: enc.height };
  } finally {
    packet.free();
    frame.free();
    enc.freeContext();
    source.graph.free();
  }
}

function addCoverStream(fmt: FormatContext, pic: EncodedPicture, metadata?: Readonly<Record<string, string>>): Stream {
  const stream = fmt.newStream(null);
  const par = stream.codecpar;
  par.codecType = AVMEDIA_TYPE_VIDEO;
  par.codecId = pic.codecId;
  par.width = pic.width;
  par.height = pic.height;
  stream.disposition = AV_DISPOSITION_ATTACHED_PIC;
  stream.timeBase = new Rational(1, 90000);
  if (metadata) stream.metadata = dictionary(metadata);
  return stream;
}

function writeCover(fmt: FormatContext, stream: Stream, data: Buffer): void {
  const pkt = new Packet();
  pkt.alloc();
  try {
    pkt.data = data;
    pkt.streamIndex = stream.index;
    pkt.pts = 0n;
    pkt.dts = 0n;
    pkt.flags = AV_PKT_FLAG_KEY;
    check(fmt.interleavedWriteFrameSync(pkt), 'write cover');
  } finally {
    pkt.free();
  }
}

/** Width and height from a JPEG's start-of-frame segment. */
function jpegSize(jpeg: Buffer): { width: number; height: number } {
  if (jpeg.readUInt16BE(0) !== 0xffd8) throw new Error('synthesize: cover is not a JPEG');
  let at = 2;
  while (at + 9 < jpeg.length) {
    if (jpeg[at] !== 0xff) throw new Error('synthesize: cover JPEG is damaged');
    const marker = jpeg[at + 1]!;
    const length = jpeg.readUInt16BE(at + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(at + 5), width: jpeg.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  throw new Error('synthesize: cover JPEG has no frame header');
}

// ---------------------------------------------------------------------------------------------
// Side data layouts (libavutil structs, little-endian as on every platform node-av ships for)

/**
 * av_display_rotation_set(matrix, clockwise). (Readers report it back through av_display_rotation_get,
 * which answers in counter-clockwise degrees: ffprobe's `rotation: -90` for a clockwise 90.)
 */
function displayMatrix(clockwise: number): Buffer {
  const radians = (-clockwise * Math.PI) / 180;
  const c = Math.cos(radians);
  const s = Math.sin(radians);
  const fixed = (x: number) => Math.trunc(x * 65536);
  const m = [fixed(c), fixed(-s), 0, fixed(s), fixed(c), 0, 0, 0, 1 << 30];
  const buf = Buffer.alloc(36);
  for (const [i, v] of m.entries()) buf.writeInt32LE(v, i * 4);
  return buf;
}

// Denominators of the HEVC/AV1 SEI units: chromaticity in 0.00002, luminance in 0.0001 cd/m².
const CHROMA_DEN = 50000;
const LUMA_DEN = 10000;

/** AVMasteringDisplayMetadata: AVRational display_primaries[3][2] (R, G, B), white_point[2], min, max; int has_primaries, has_luminance. */
function masteringDisplayData(m: MasteringDisplay): Buffer {
  const buf = Buffer.alloc(88);
  let at = 0;
  const rational = (value: number, den: number) => {
    buf.writeInt32LE(Math.round(value * den), at);
    buf.writeInt32LE(den, at + 4);
    at += 8;
  };
  for (const [x, y] of [m.red, m.green, m.blue, m.whitePoint]) {
    rational(x, CHROMA_DEN);
    rational(y, CHROMA_DEN);
  }
  rational(m.minLuminance, LUMA_DEN);
  rational(m.maxLuminance, LUMA_DEN);
  buf.writeInt32LE(1, at);
  buf.writeInt32LE(1, at + 4);
  return buf;
}

/** AVContentLightMetadata: unsigned MaxCLL, MaxFALL. */
function contentLightData(c: ContentLightLevel): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeUInt32LE(Math.round(c.maxCll), 0);
  buf.writeUInt32LE(Math.round(c.maxFall), 4);
  return buf;
}

/** The same metadata as x265 parameters (its SEI): G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min) and max-cll. */
function x265HdrParams(hdr: HdrMetadata): string {
  const parts = ['hdr10=1'];
  const m = hdr.masteringDisplay;
  if (m) {
    const xy = ([x, y]: Chromaticity) => `(${Math.round(x * CHROMA_DEN)},${Math.round(y * CHROMA_DEN)})`;
    const lum = `L(${Math.round(m.maxLuminance * LUMA_DEN)},${Math.round(m.minLuminance * LUMA_DEN)})`;
    parts.push(`master-display=G${xy(m.green)}B${xy(m.blue)}R${xy(m.red)}WP${xy(m.whitePoint)}${lum}`);
  }
  const c = hdr.contentLight;
  if (c) parts.push(`max-cll=${Math.round(c.maxCll)},${Math.round(c.maxFall)}`);
  return parts.join(':');
}
