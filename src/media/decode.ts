// Decode one frame — the last one presented within a time window — to raw RGB, in a single ffmpeg run.
// Encoding is left to sharp (faster than ffmpeg's mjpeg, and one encoder for every output).
import { errors } from '../errors.js';
import type { MediaInput } from './input.js';
import { inputArgs } from './input.js';
import type { MediaInfo, VideoStream } from './probe.js';
import type { FfmpegRunner } from './runner.js';

export interface RawFrame {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

export interface DecodedFrame extends RawFrame {
  /** Presentation time on the container clock (s). */
  pts: number;
  isKeyframe: boolean;
}

/**
 * Which frame to decode: the last one whose presentation time lies in [from, to] (container clock,
 * seconds). `seekTo` is where the demuxer jumps first; it lands on a keyframe at or before it.
 * Undefined window = the stream's first picture (cover art).
 */
export interface FrameWindow {
  seekTo: number;
  from: number;
  to: number;
  /** Decode only keyframes (the decoder skips the rest without decoding them). */
  keyframesOnly: boolean;
}

// Printed timestamps have six decimals and `t` in filters is pts × time base in floating point: a
// window edge this much wider absorbs both, and is far below any real frame duration.
const SLACK = 2e-6;

const secs = (s: number) => (Number.isFinite(s) ? s : 0).toFixed(6);

/**
 * The filter chain does the selecting, inside one process and with timestamps kept as they are in
 * the file (-copyts, so `t` is the container clock and needs no offset arithmetic):
 *   trim=end   stops decoding right after the window (EOF), instead of running to the end of the file;
 *   select     keeps the frames inside the window, before any pixel conversion is paid for;
 *   showinfo   logs each kept frame's pts and key flag — the last line logged is the frame returned;
 *   reverse    + trim=end_frame=1 keeps the last kept frame (it buffers only the window's frames);
 *   scale      converts only that frame, pinned to the probed size (a stream that changes size mid-way
 *              still yields the geometry the caller expects).
 */
export function decodeArgs(
  input: MediaInput,
  info: MediaInfo,
  video: VideoStream,
  window: FrameWindow | undefined,
  threads: number,
): string[] {
  const args = ['-hide_banner', '-nostats', '-v', 'info', '-noautorotate', '-an', '-sn', '-dn'];
  const filters: string[] = [];
  // A single keyframe gains nothing from frame threads, which only add latency.
  args.push('-threads', String(window?.keyframesOnly ? 1 : threads));
  if (window) {
    if (window.keyframesOnly) args.push('-skip_frame', 'nokey');
    args.push('-copyts', '-ss', secs(Math.max(0, window.seekTo - info.formatStartTime)), '-noaccurate_seek');
    // trim rounds `end` to the stream's time base: half a frame past the window survives the rounding.
    const stop = window.to + Math.max(video.frameDuration / 2, 0.001);
    // Some decoders (VP9) ignore -skip_frame, so the key flag is checked here as well.
    const key = window.keyframesOnly ? '*eq(key\\,1)' : '';
    filters.push(`trim=end=${secs(stop)}`, `select=between(t\\,${secs(window.from - SLACK)}\\,${secs(window.to + SLACK)})${key}`);
  }
  filters.push('showinfo', 'reverse', 'trim=end_frame=1', `scale=${video.width}:${video.height}`);
  args.push(...inputArgs(input), '-map', `0:${video.index}`, '-vf', filters.join(','));
  args.push('-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

const SHOWINFO = /Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+(?:e-?\d+)?)\b.*\biskey:\s*(\d)/;

export function lastShownFrame(stderr: string): { pts: number; isKeyframe: boolean } | undefined {
  let found: { pts: number; isKeyframe: boolean } | undefined;
  for (const line of stderr.split('\n')) {
    const m = SHOWINFO.exec(line);
    if (m) found = { pts: Number(m[1]), isKeyframe: m[2] === '1' };
  }
  return found;
}

/** The frame, or undefined when no frame was presented within the window. */
export async function decodeFrame(
  runner: FfmpegRunner,
  input: MediaInput,
  info: MediaInfo,
  video: VideoStream,
  window: FrameWindow | undefined,
  signal?: AbortSignal,
): Promise<DecodedFrame | undefined> {
  let result;
  try {
    result = await runner.ffmpeg(decodeArgs(input, info, video, window, runner.decodeThreads), signal);
  } catch (err) {
    throw runner.classify(err, 'Could not decode the frame');
  }
  const expected = video.width * video.height * 3;
  const shown = lastShownFrame(result.stderr);
  if (result.stdout.length === 0 || !shown) return undefined;
  if (result.stdout.length < expected) throw errors.notMedia('The video frame could not be decoded.');
  return {
    data: result.stdout.subarray(0, expected),
    width: video.width,
    height: video.height,
    channels: 3,
    pts: shown.pts,
    isKeyframe: shown.isKeyframe,
  };
}
