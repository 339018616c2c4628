// What is in a media object: one ffprobe run, reduced to the facts capture needs. Results are cached by
// the caller (keyed by the object's ETag), so this runs once per object version.
import { errors } from '../errors.js';
import type { MediaInput } from './input.js';
import { inputArgs } from './input.js';
import type { FfmpegRunner } from './runner.js';

export interface VideoStream {
  index: number;
  codec: string;
  width: number;
  height: number;
  /** Degrees to turn the stored picture clockwise to show it upright (0, 90, 180, 270). */
  rotation: number;
  /** Pixel aspect ratio (1 for square pixels). */
  sampleAspect: number;
  /** Presentation time of the stream's first frame, in seconds on the container's clock. */
  startTime: number;
  /** Nominal frame duration in seconds (from r_frame_rate), 0 when unknown. */
  frameDuration: number;
  /** An embedded still picture (audio cover art), not a moving stream. */
  isCoverArt: boolean;
}

export interface MediaInfo {
  formatName: string;
  /** Container start time in seconds: ffmpeg's `-ss` counts from here. */
  formatStartTime: number;
  /** Seconds; 0 when the container does not say. */
  duration: number;
  /** The video stream frames are taken from (first real video stream, else the cover picture). */
  video: VideoStream | undefined;
  hasAudio: boolean;
}

export interface ProbeLimits {
  maxSourcePixels: number;
  maxSourceDurationSeconds: number;
}

interface RawStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  r_frame_rate?: string;
  start_time?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface RawProbe {
  format?: { format_name?: string; start_time?: string; duration?: string };
  streams?: RawStream[];
}

function ratio(value: string | undefined): number {
  const [num, den] = (value ?? '').split(/[:/]/).map(Number);
  return num && den ? num / den : 0;
}

function seconds(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** ffprobe ≥ 5 reports a display matrix (counter-clockwise degrees); 4.x also keeps the legacy `rotate` tag (clockwise). */
function clockwiseRotation(stream: RawStream): number {
  const matrix = stream.side_data_list?.find((s) => s.rotation !== undefined);
  const degrees = matrix ? -Number(matrix.rotation) : Number(stream.tags?.rotate ?? 0);
  const normalized = ((Math.round(degrees / 90) * 90) % 360 + 360) % 360;
  return Number.isFinite(normalized) ? normalized : 0;
}

function toVideoStream(s: RawStream): VideoStream {
  const frameRate = ratio(s.r_frame_rate);
  return {
    index: s.index,
    codec: s.codec_name ?? 'unknown',
    width: s.width ?? 0,
    height: s.height ?? 0,
    rotation: clockwiseRotation(s),
    sampleAspect: ratio(s.sample_aspect_ratio) || 1,
    startTime: seconds(s.start_time),
    frameDuration: frameRate > 0 && frameRate < 1000 ? 1 / frameRate : 0,
    isCoverArt: s.disposition?.attached_pic === 1,
  };
}

export function parseProbe(json: string): MediaInfo {
  const raw = JSON.parse(json) as RawProbe;
  const streams = raw.streams ?? [];
  const videos = streams.filter((s) => s.codec_type === 'video' && (s.width ?? 0) > 0);
  const chosen = videos.find((s) => s.disposition?.attached_pic !== 1) ?? videos[0];
  return {
    formatName: raw.format?.format_name ?? 'unknown',
    formatStartTime: seconds(raw.format?.start_time),
    duration: seconds(raw.format?.duration),
    video: chosen ? toVideoStream(chosen) : undefined,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
  };
}

export async function probeMedia(
  runner: FfmpegRunner,
  input: MediaInput,
  signal?: AbortSignal,
): Promise<MediaInfo> {
  const args = ['-v', 'error', '-hide_banner', '-of', 'json', '-show_format', '-show_streams', ...inputArgs(input)];
  let stdout: Buffer;
  try {
    ({ stdout } = await runner.ffprobe(args, signal));
  } catch (err) {
    throw runner.classify(err, 'The object is not a media file ffmpeg can read');
  }
  const info = parseProbe(stdout.toString('utf8'));
  if (info.formatName === 'unknown') throw errors.notMedia('The object is not a media file ffmpeg can read.');
  return info;
}

/** The checks every capture makes before decoding anything: a frame source exists and is within limits. */
export function requireVideo(info: MediaInfo, limits: ProbeLimits): VideoStream {
  const video = info.video;
  if (!video) {
    throw errors.notMedia(
      info.hasAudio
        ? 'The object has no video stream and no embedded cover picture.'
        : 'The object has no video stream.',
    );
  }
  if (video.width * video.height > limits.maxSourcePixels) {
    throw errors.limitExceeded(
      `The video is ${video.width}x${video.height}, above the limit of ${limits.maxSourcePixels} pixels per frame.`,
    );
  }
  if (!video.isCoverArt && info.duration > limits.maxSourceDurationSeconds) {
    throw errors.limitExceeded(
      `The video lasts ${Math.round(info.duration)} s, above the limit of ${limits.maxSourceDurationSeconds} s.`,
    );
  }
  return video;
}
