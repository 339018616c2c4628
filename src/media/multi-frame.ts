// Many frames from one source, for IMM tasks, without one ffmpeg start per frame:
//  - scanFrames: one ffprobe lists every frame's pts and key flag in a range (packets only, no decoding),
//    so the caller knows exactly which frames it wants before decoding any;
//  - decodePass: one ffmpeg decodes the range once and a `select` filter keeps only the wanted frames
//    (by exact pts) before any pixel conversion — cheap when the wanted frames are dense;
//  - decodeSeeks: one ffmpeg with one input per wanted frame, each seeking to the keyframe before its
//    frame and decoding only from there — cheap when the frames are sparse (gap ≫ GOP).
// Frames stream out as raw RGB, parsed incrementally from the pipe with a small bounded queue, so memory
// stays at a few frames whatever the task size. Every input goes through inputArgs (allow-lists).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { AppError, errors } from '../errors.js';
import { inputArgs, type MediaInput } from './input.js';
import type { MediaInfo, VideoStream } from './probe.js';
import { AbortedError, CHILD_ENV, ProcessFailedError } from './run.js';
import type { FfmpegRunner } from './runner.js';

/** Every frame of a range in presentation order: pts (container clock, s) and key flag. */
/** How a run ended, filled in when it does; `notify` wakes the consumer loop either way. */
function watchOutcome(done: Promise<unknown>, notify: () => void): { closed: boolean; failure: unknown } {
  const outcome: { closed: boolean; failure: unknown } = { closed: false, failure: undefined };
  done.then(
    () => {
      outcome.closed = true;
      notify();
    },
    (err: unknown) => {
      outcome.closed = true;
      outcome.failure = err;
      notify();
    },
  );
  return outcome;
}

export interface FrameIndex {
  pts: number[];
  key: boolean[];
}

/** A decoded picture: full-size RGB, or a small grey thumbnail (e.g. 9×8 for a difference hash). */
export interface PixelFrame {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface DecodedFrame {
  frame: PixelFrame;
  /** Presentation time on the container clock (s). */
  pts: number;
}

/** What each frame is turned into: the probed size in RGB (default), or a small grey thumbnail. */
export type FrameOutput = { kind: 'rgb' } | { kind: 'grey'; width: number; height: number };

function outputGeometry(video: VideoStream, output: FrameOutput | undefined) {
  // Full frames are pinned to the probed size: a stream that changes size mid-way still yields the
  // geometry the caller expects. Thumbnails are area-averaged straight from the decoder's YUV.
  return output?.kind === 'grey'
    ? { filter: `scale=${output.width}:${output.height}:flags=area,format=gray`, pixFmt: 'gray', width: output.width, height: output.height, channels: 1 as const }
    : { filter: `scale=${video.width}:${video.height}`, pixFmt: 'rgb24', width: video.width, height: video.height, channels: 3 as const };
}

export interface StreamOptions {
  runner: FfmpegRunner;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called once per ffmpeg started (metrics, tests that count processes). */
  onSpawn?: () => void;
}

// Printed timestamps carry six decimals.
const EPSILON = 2e-6;

const secs = (s: number) => Math.max(0, s).toFixed(6);

/** ffprobe packet CSV (`pts,dts,flags`, or `stream,pts,dts,flags` with `stream` given) → frame list. */
export function parseFrameCsv(csv: string, stream?: number): FrameIndex {
  const frames: { pts: number; key: boolean }[] = [];
  for (const line of csv.split('\n')) {
    const fields = line.trim().split(',');
    if (stream !== undefined && Number(fields.shift()) !== stream) continue;
    const [pts, dts, flags] = fields;
    // AVI and some raw streams carry no pts on packets; without B-frames dts is the same instant.
    const time = Number(pts !== 'N/A' && pts ? pts : dts);
    if (flags === undefined || !Number.isFinite(time)) continue;
    frames.push({ pts: time, key: flags.startsWith('K') });
  }
  frames.sort((a, b) => a.pts - b.pts);
  const index: FrameIndex = { pts: [], key: [] };
  for (const f of frames) {
    const last = index.pts.length - 1;
    if (last >= 0 && Math.abs(index.pts[last]! - f.pts) <= EPSILON) {
      index.key[last] ||= f.key;
      continue;
    }
    index.pts.push(f.pts);
    index.key.push(f.key);
  }
  return index;
}

/** Drops frames before the first keyframe (they cannot be decoded from it). */
function fromFirstKeyframe(index: FrameIndex): FrameIndex {
  const firstKey = index.key.indexOf(true);
  if (firstKey > 0) {
    index.pts.splice(0, firstKey);
    index.key.splice(0, firstKey);
  }
  return index;
}

async function scanPackets(runner: FfmpegRunner, input: MediaInput, streams: string, start: number | undefined, signal?: AbortSignal): Promise<string> {
  const args = [
    '-v', 'error', '-hide_banner', '-select_streams', streams,
    '-show_entries', `packet=${streams === 'v' ? 'stream_index,' : ''}pts_time,dts_time,flags`, '-of', 'csv=p=0',
    ...(start === undefined ? [] : ['-read_intervals', `${secs(start)}%`]),
    ...inputArgs(input),
  ];
  try {
    return (await runner.ffprobe(args, signal)).stdout.toString('utf8');
  } catch (err) {
    throw runner.classify(err, 'Could not read the video packets');
  }
}

/**
 * Every video stream's frames from the start, before the probe has said which stream is the video
 * one: lets the scan run beside the probe. Pick the stream with `pickStream`.
 */
export function scanAllVideoFrames(runner: FfmpegRunner, input: MediaInput, signal?: AbortSignal): Promise<(stream: number) => FrameIndex> {
  return scanPackets(runner, input, 'v', undefined, signal).then((csv) => (stream) => fromFirstKeyframe(parseFrameCsv(csv, stream)));
}

/**
 * Frames from `from` (container clock; undefined = the start) to the end of the stream. The list starts
 * at a keyframe at or before `from`: indexed containers seek there, index-less ones may land later, so
 * the scan then starts further back.
 */
export async function scanFrames(
  runner: FfmpegRunner,
  input: MediaInput,
  video: VideoStream,
  from: number | undefined,
  signal?: AbortSignal,
): Promise<FrameIndex> {
  const starts = from === undefined || from <= 0 ? [undefined] : [from, Math.max(0, from - 30), undefined];
  let index: FrameIndex = { pts: [], key: [] };
  for (const start of starts) {
    index = parseFrameCsv(await scanPackets(runner, input, String(video.index), start, signal));
    const firstKey = index.key.indexOf(true);
    if (start === undefined || (firstKey >= 0 && index.pts[firstKey]! <= (from ?? 0) + EPSILON)) return fromFirstKeyframe(index);
  }
  return index;
}

/** Index of the frame shown at `pts`: the last one presented at or before it (the first if none). */
export function frameAtOrBefore(index: FrameIndex, pts: number): number {
  let lo = 0;
  let hi = index.pts.length - 1;
  if (hi < 0) return -1;
  if (index.pts[0]! > pts + EPSILON) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index.pts[mid]! <= pts + EPSILON) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of the keyframe decoding of frame `i` starts from. */
export function keyframeOf(index: FrameIndex, i: number): number {
  for (let k = i; k >= 0; k--) if (index.key[k]) return k;
  return 0;
}

// Demuxers whose seek lands on the keyframe at or before the requested time.
const INDEXED = new Set(['mov', 'mp4', 'matroska', 'webm']);

/**
 * Where to seek (ffmpeg -ss, seconds from the container start; 0 = don't) to decode frame `i`. With an
 * index, seeking to the frame itself lands on the keyframe before it — in ffmpeg 4.x too, which backs
 * off ~0.13 s on streams with B-frames (seeking to the keyframe itself would then land a whole GOP
 * early). Without one (MPEG-TS, FLV) a seek can land anywhere near, so it aims well before the keyframe.
 */
function seekPoint(info: MediaInfo, index: FrameIndex, i: number): number {
  const indexed = info.formatName.split(',').some((name) => INDEXED.has(name));
  const at = indexed ? index.pts[i]! : index.pts[keyframeOf(index, i)]! - 3;
  return Math.max(0, at - info.formatStartTime);
}

/** Half the smallest gap around frame i: how far a decoded pts may stray and still be that frame. */
function tolerance(index: FrameIndex, i: number): number {
  const before = i > 0 ? index.pts[i]! - index.pts[i - 1]! : Infinity;
  const after = i < index.pts.length - 1 ? index.pts[i + 1]! - index.pts[i]! : Infinity;
  const gap = Math.min(before, after);
  return Math.min(0.5e-3, Number.isFinite(gap) ? gap / 3 : 0.5e-3);
}

// ---------------------------------------------------------------------------------------------

interface Spawned {
  child: ChildProcess;
  /** Resolves on exit 0; rejects with the reason the run failed (timeout, abort, exit code). */
  done: Promise<void>;
  kill(reason: Error): void;
  stderrTail(): string;
}

const MAX_STDERR_TAIL = 8 * 1024;

function spawnFfmpeg(options: StreamOptions, args: string[], extraPipes: number, onStderrLine?: (line: string) => void): Spawned {
  if (options.signal?.aborted) throw new AbortedError();
  const bin = options.runner.binaries.ffmpeg.path;
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', ...Array.from({ length: extraPipes }, () => 'pipe' as const)];
  const child = spawn(bin, ['-nostdin', ...args], { stdio, env: CHILD_ENV });
  options.onSpawn?.();
  let failure: Error | undefined;
  let tail = '';
  let partial = '';
  const kill = (reason: Error) => {
    failure ??= reason;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => kill(errors.timeout('ffmpeg', options.timeoutMs)), options.timeoutMs);
  const onAbort = () => kill(new AbortedError());
  options.signal?.addEventListener('abort', onAbort, { once: true });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-MAX_STDERR_TAIL);
    if (!onStderrLine) return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onStderrLine(line);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => {
      failure ??= err;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (partial && onStderrLine) onStderrLine(partial);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new ProcessFailedError(bin, code, tail));
      resolve();
    });
  });
  // A failed run is reported through the consumer; never as an unhandled rejection.
  done.catch(() => {});
  return { child, done, kill, stderrTail: () => tail };
}

/**
 * Cuts a byte stream into fixed-size frames without concatenating chunk lists. Frame buffers the
 * consumer has finished with come back through `release`, so a long pass allocates a handful of
 * multi-megabyte buffers instead of one per frame (less GC work).
 */
class FrameCutter {
  private current: Buffer;
  private filled = 0;
  private readonly free: Buffer[] = [];
  constructor(private readonly size: number) {
    this.current = Buffer.allocUnsafe(size);
  }
  release(frame: Buffer) {
    if (this.free.length < 4) this.free.push(frame);
  }
  push(chunk: Buffer, emit: (frame: Buffer) => void) {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.size - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.size) {
        emit(this.current);
        this.current = this.free.pop() ?? Buffer.allocUnsafe(this.size);
        this.filled = 0;
      }
    }
  }
}

/** ffmpeg ≥ 5.1 spells "write every frame as it comes" -fps_mode passthrough; older ones -vsync 0. */
function passthrough(runner: FfmpegRunner): { global: string[]; output: string[] } {
  const [major, minor] = runner.binaries.ffmpeg.version;
  return major > 5 || (major === 5 && minor >= 1) ? { global: [], output: ['-fps_mode', 'passthrough'] } : { global: ['-vsync', '0'], output: [] };
}

/** `select` expression keeping the frames whose pts is within tolerance of one of `wanted`. */
function selectExpression(index: FrameIndex, wanted: readonly number[]): string {
  return wanted.map((i) => {
    const e = tolerance(index, i);
    return `between(t,${(index.pts[i]! - e).toFixed(6)},${(index.pts[i]! + e).toFixed(6)})`;
  }).join('+');
}

// showinfo logs `n: 3 pts: 15360 pts_time:1.2 …` per frame, after `config in time_base: 1/12800`.
// pts_time is printed with 6 significant digits only (useless past 1000 s): pts × time base is exact.
const SHOWINFO_FRAME = /Parsed_showinfo.*\bn:\s*\d+\s+pts:\s*(-?\d+)/;
const SHOWINFO_TIMEBASE = /Parsed_showinfo.*config in time_base:\s*(\d+)\/(\d+)/;

export interface PassOptions extends StreamOptions {
  input: MediaInput;
  info: MediaInfo;
  video: VideoStream;
  index: FrameIndex;
  /** Frame indices (into `index`), ascending. */
  wanted: readonly number[];
  /** Decode keyframes only (every wanted frame is one). */
  keyframesOnly: boolean;
  output?: FrameOutput;
}

const STALL_MS = 10_000;

export interface FfmpegTraits {
  /** Wall ms of starting this ffmpeg (shared-library loading dominates distro builds). */
  spawnMs: number;
  /** showinfo=checksum=0 exists (newer ffmpeg): skips per-frame checksums, mean and stdev. */
  showinfoChecksumOption: boolean;
}

const traits = new Map<string, Promise<FfmpegTraits>>();

/** Measured once per binary: what a run costs to start and which showinfo options it has. */
export function ffmpegTraits(runner: FfmpegRunner): Promise<FfmpegTraits> {
  const path = runner.binaries.ffmpeg.path;
  let found = traits.get(path);
  if (!found) {
    found = (async () => {
      const started = performance.now();
      try {
        const { stdout } = await runner.ffmpeg(['-hide_banner', '-h', 'filter=showinfo']);
        // Opening an input and probing it come on top of the bare start.
        return { spawnMs: performance.now() - started + 15, showinfoChecksumOption: /\bchecksum\b/.test(stdout.toString('utf8')) };
      } catch {
        return { spawnMs: 100, showinfoChecksumOption: false };
      }
    })();
    traits.set(path, found);
  }
  return found;
}

/**
 * One decoding pass over [keyframe before the first wanted frame, last wanted frame]. Yields the wanted
 * frames in order as they are decoded; a wanted frame the pass did not produce (a pts the decoder
 * reports differently from the demuxer) is simply missing — the caller fetches it another way.
 * A yielded frame's buffer is reused once the consumer asks for the next frame: copy it to keep it.
 */
export async function* decodePass(options: PassOptions): AsyncGenerator<DecodedFrame & { position: number }> {
  const { index, wanted, video, info } = options;
  if (!wanted.length) return;
  const geometry = outputGeometry(video, options.output);
  const first = index.pts[keyframeOf(index, wanted[0]!)]!;
  const last = index.pts[wanted[wanted.length - 1]!]!;
  const mode = passthrough(options.runner);
  const showinfo = (await ffmpegTraits(options.runner)).showinfoChecksumOption ? 'showinfo=checksum=0' : 'showinfo';
  const args = ['-hide_banner', '-nostats', '-v', 'info', ...mode.global, '-copyts'];
  if (options.keyframesOnly) args.push('-skip_frame', 'nokey', '-threads', '1');
  args.push('-noautorotate', '-an', '-sn', '-dn');
  const seekTo = seekPoint(info, index, wanted[0]!);
  if (seekTo > 0) args.push('-ss', secs(seekTo), '-noaccurate_seek');
  // Bounds a run whose pts never match (it would otherwise decode to the end of the file).
  args.push('-t', secs(last - first + 30));
  args.push(...inputArgs(options.input), '-map', `0:${video.index}`);
  args.push(
    '-vf', `select='${selectExpression(index, wanted)}',${showinfo},${geometry.filter}`,
    ...mode.output,
    '-frames:v', String(wanted.length),
    '-f', 'rawvideo', '-pix_fmt', geometry.pixFmt, 'pipe:1',
  );

  let timeBase = 0;
  const ptsQueue: number[] = [];
  const frames: Buffer[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const run = spawnFfmpeg(options, args, 0, (line) => {
    const tb = SHOWINFO_TIMEBASE.exec(line);
    if (tb) timeBase = Number(tb[1]) / Number(tb[2]);
    const m = SHOWINFO_FRAME.exec(line);
    if (m && timeBase) {
      ptsQueue.push(Number(m[1]) * timeBase);
      notify();
    }
  });
  const stdout = run.child.stdout as Readable;
  const cutter = new FrameCutter(geometry.width * geometry.height * geometry.channels);
  // Up to two decoded frames wait while the consumer encodes; beyond that ffmpeg blocks on the pipe.
  const MAX_QUEUED = 2;
  stdout.on('data', (chunk: Buffer) => {
    // Wake the consumer per whole frame, not per 64 KB chunk.
    cutter.push(chunk, (frame) => {
      frames.push(frame);
      notify();
    });
    if (frames.length >= MAX_QUEUED) stdout.pause();
  });
  const outcome = watchOutcome(run.done, notify);

  let position = 0;
  let produced = 0;
  try {
    for (;;) {
      if (frames.length > 0 && ptsQueue.length > produced) {
        const data = frames.shift()!;
        const pts = ptsQueue[produced++]!;
        if (frames.length < MAX_QUEUED) stdout.resume();
        // Match the decoded pts to the next wanted frames (skipping any the pass did not produce).
        let at = position;
        while (at < wanted.length && index.pts[wanted[at]!]! + tolerance(index, wanted[at]!) < pts) at++;
        if (at < wanted.length && Math.abs(index.pts[wanted[at]!]! - pts) <= tolerance(index, wanted[at]!)) {
          position = at + 1;
          yield { frame: { data, width: geometry.width, height: geometry.height, channels: geometry.channels }, pts, position: at };
        }
        // The consumer asked for the next frame: it is done with this one.
        cutter.release(data);
        continue;
      }
      if (outcome.closed) {
        if (outcome.failure) throw options.runner.classify(outcome.failure, 'Could not decode the video');
        return;
      }
      // A frame whose showinfo line never comes would stall the pipe for good: give up on the pass.
      const stalled = frames.length > 0;
      const timer = stalled ? setTimeout(() => run.kill(errors.notMedia('Could not decode the video: ffmpeg did not report which frames it decoded.')), STALL_MS) : undefined;
      await new Promise<void>((resolve) => (wake = resolve));
      clearTimeout(timer);
    }
  } finally {
    if (!outcome.closed) run.kill(new AbortedError());
  }
}

export interface SeeksOptions extends StreamOptions {
  input: MediaInput;
  info: MediaInfo;
  video: VideoStream;
  index: FrameIndex;
  /** Frame indices (into `index`), ascending; at most seekBatchSize() per call. */
  wanted: readonly number[];
  output?: FrameOutput;
}

/** Inputs opened by one seeking ffmpeg: each holds a demuxer and a decoder. */
export function seekBatchSize(video: VideoStream): number {
  const frameBytes = video.width * video.height * 3;
  return Math.max(1, Math.min(16, Math.floor((192 * 1024 * 1024) / Math.max(1, frameBytes * 4))));
}

/**
 * One ffmpeg, one input per wanted frame: input i seeks to its frame's keyframe (decoding keyframes only
 * when the frame is one) and writes exactly that frame to its own pipe (fd 3 + i). Yields in order.
 */
export async function* decodeSeeks(options: SeeksOptions): AsyncGenerator<DecodedFrame & { position: number }> {
  const { index, wanted, video, info } = options;
  if (!wanted.length) return;
  const geometry = outputGeometry(video, options.output);
  const mode = passthrough(options.runner);
  const args = ['-hide_banner', '-nostats', '-v', 'error', ...mode.global, '-copyts'];
  for (const i of wanted) {
    const key = keyframeOf(index, i);
    if (index.key[i]) args.push('-skip_frame', 'nokey');
    const pts = index.pts[i]!;
    const seekTo = seekPoint(info, index, i);
    args.push('-threads', '1', '-noautorotate', '-an', '-sn', '-dn');
    if (seekTo > 0) args.push('-ss', secs(seekTo), '-noaccurate_seek');
    args.push('-t', secs(pts - index.pts[key]! + 30), ...inputArgs(options.input));
  }
  wanted.forEach((i, n) => {
    args.push(
      '-map', `${n}:${video.index}`,
      '-vf', `select='${selectExpression(index, [i])}',${geometry.filter}`,
      ...mode.output,
      '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', geometry.pixFmt, `pipe:${3 + n}`,
    );
  });
  const run = spawnFfmpeg(options, args, wanted.length);
  const size = geometry.width * geometry.height * geometry.channels;
  const buffers = wanted.map(() => ({ data: Buffer.allocUnsafe(size), filled: 0, ended: false }));
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  wanted.forEach((_, n) => {
    const pipe = run.child.stdio[3 + n] as Readable;
    const b = buffers[n]!;
    pipe.on('data', (chunk: Buffer) => {
      const take = Math.min(chunk.length, size - b.filled);
      chunk.copy(b.data, b.filled, 0, take);
      b.filled += take;
      if (b.filled === size) notify();
    });
    pipe.on('end', () => {
      b.ended = true;
      notify();
    });
  });
  const outcome = watchOutcome(run.done, notify);
  try {
    for (let n = 0; n < wanted.length; ) {
      const b = buffers[n]!;
      if (b.filled === size) {
        yield { frame: { data: b.data, width: geometry.width, height: geometry.height, channels: geometry.channels }, pts: index.pts[wanted[n]!]!, position: n };
        buffers[n] = { data: Buffer.alloc(0), filled: 0, ended: true };
        n++;
        continue;
      }
      if (outcome.closed) {
        // Our deadline or the caller's abort ends the batch; any other failure (one input the demuxer
        // refuses, say) only loses the frames not written: the caller fetches those one by one.
        if (outcome.failure instanceof AbortedError || (outcome.failure instanceof AppError && outcome.failure.status === 504)) throw outcome.failure;
        n++;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!outcome.closed) run.kill(new AbortedError());
  }
}
