// What is in a media object, reduced to the facts capture needs, and the checks every capture makes
// before decoding anything. Pure: the engine fills these in (src/media/engine/source.ts).
import { errors } from '../errors.js';

/** How the picture's signal is to be read: SDR, or one of the two HDR transfers (tone-mapped on output). */
export type Transfer = 'sdr' | 'pq' | 'hlg';

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
  /** Nominal frame duration in seconds, 0 when unknown. */
  frameDuration: number;
  /** An embedded still picture (audio cover art), not a moving stream. */
  isCoverArt: boolean;
  /** e.g. yuv420p, yuv420p10le. */
  pixelFormat: string;
  transfer: Transfer;
  /** Colour primaries as FFmpeg names them (bt709, bt2020, …; "unknown" when unset). */
  primaries: string;
}

export interface MediaInfo {
  /** The demuxer's names, e.g. "mov,mp4,m4a,3gp,3g2,mj2", or "hls" for a playlist. */
  formatName: string;
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

/** Clockwise degrees (0/90/180/270) from a display matrix's counter-clockwise rotation angle. */
export function clockwiseRotation(counterClockwiseDegrees: number): number {
  if (!Number.isFinite(counterClockwiseDegrees)) return 0;
  return ((Math.round(-counterClockwiseDegrees / 90) * 90) % 360 + 360) % 360;
}
