// Decode exactly one located frame to raw RGB. Encoding is left to sharp (faster than ffmpeg's mjpeg and
// one encoder for every output), so ffmpeg only demuxes, decodes and converts pixels.
import { errors } from '../errors.js';
import type { MediaInput } from './input.js';
import { inputArgs } from './input.js';
import type { FrameLocation } from './locate.js';
import type { MediaInfo, VideoStream } from './probe.js';
import type { FfmpegRunner } from './runner.js';

export interface RawFrame {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

// Timestamps are printed with six decimals; seeking this far past a keyframe can never land before it,
// and cutting this far before a frame can never cut it off, in any stream time base coarser than 6 µs.
const ROUNDING = 2e-6;
const CUT_MARGIN = 3e-6;

const secs = (s: number) => Math.max(0, s).toFixed(6);

/**
 * Input seek (before -i) jumps straight to the keyframe the frame depends on, without accurate-seek
 * trimming, so rounding can never drop that keyframe; the output seek (after -i) then discards every
 * decoded frame before the chosen one. The cut sits just below the chosen frame rather than halfway to
 * its predecessor: ffmpeg rounds the cut to the stream's time base, and in coarse ones (AVI's 1/25,
 * FLV's 1/1000) a halfway cut rounds down onto the previous frame.
 */
export function decodeArgs(
  input: MediaInput,
  info: MediaInfo,
  video: VideoStream,
  location: FrameLocation | undefined,
): string[] {
  const args = ['-v', 'error', '-hide_banner', '-noautorotate', '-an', '-sn', '-dn'];
  const keyframeOnly = location?.isKeyframe ?? true;
  // Only keyframes need decoding when the answer is one: skip the rest inside the decoder.
  if (keyframeOnly) args.push('-skip_frame', 'nokey', '-threads', '1');
  let outputSeek: number | undefined;
  if (location) {
    const inputSeek = location.keyframePts - info.formatStartTime + ROUNDING;
    args.push('-ss', secs(inputSeek), '-noaccurate_seek');
    const cut = location.pts - location.keyframePts - CUT_MARGIN;
    if (cut > 0) outputSeek = cut;
  }
  args.push(...inputArgs(input), '-map', `0:${video.index}`);
  if (outputSeek !== undefined) args.push('-ss', secs(outputSeek));
  args.push(
    '-frames:v', '1',
    // Pin the size: a stream that changes resolution mid-way must still give the probed geometry.
    '-vf', `scale=${video.width}:${video.height}`,
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  );
  return args;
}

export async function decodeFrame(
  runner: FfmpegRunner,
  input: MediaInput,
  info: MediaInfo,
  video: VideoStream,
  location: FrameLocation | undefined,
  signal?: AbortSignal,
): Promise<RawFrame> {
  let stdout: Buffer;
  try {
    ({ stdout } = await runner.ffmpeg(decodeArgs(input, info, video, location), signal));
  } catch (err) {
    throw runner.classify(err, 'Could not decode the frame');
  }
  const expected = video.width * video.height * 3;
  if (stdout.length < expected) throw errors.notMedia('The video frame could not be decoded.');
  return { data: stdout.subarray(0, expected), width: video.width, height: video.height, channels: 3 };
}
