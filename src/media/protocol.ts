// What the server and its capture workers say to each other (src/media/pool.ts ↔ src/media/engine/).
// Jobs and answers cross the process boundary over the IPC channel (structured clone); a worker's reads
// of remote bytes go over a separate socket pair as small binary frames (src/media/engine/bridge.ts,
// src/media/reads.ts), because the worker waits for them synchronously, in the middle of FFmpeg's calls.
import type { ImageLimits } from '../image/actions.js';
import type { ImageAction } from '../process/image-process.js';
import type { ImageFormat, Orientation } from '../process/snapshot.js';
import type { ToneMap } from '../config.js';
import type { MediaInfo } from './probe.js';

/**
 * A media object as a worker opens it. `id` names one version (bucket, key, ETag): the worker keeps
 * demuxers open by it, and the server routes jobs of the same id to the worker that has it.
 *  - file: a local file the worker opens itself (the file store proved the path is inside its root);
 *  - object: bytes the worker reads through the server (block cache over the storage adapter);
 *  - hls: a media playlist's segments, read one after the other through the server (HLS, validated
 *    by the server; the worker never sees a URI).
 */
export type SourceRef =
  | { kind: 'file'; id: string; path: string; size: number }
  | { kind: 'object'; id: string; size: number }
  | { kind: 'hls'; id: string; segments: readonly number[]; hasInit: boolean };

/** How a frame becomes an image: the same for the URL API and tasks (src/image/geometry.ts). */
export interface RenderRequest {
  format: ImageFormat;
  orientation: Orientation;
  /** 0 = derive from the other side (or keep the source size when both are 0). */
  width: number;
  height: number;
  scaleType: 'stretch' | 'crop' | 'fill' | 'fit';
}

export type SeekMode = 'exact' | 'keyframe';

export interface CaptureJob {
  kind: 'capture';
  source: SourceRef;
  /** ms from the video stream's first frame. */
  timeMs: number;
  /** Extension `t_<n>p`: set, the time is this share (0–100) of the video stream's duration (timeMs unused). */
  timePercent?: number;
  seek: SeekMode;
  /** Extension `m_best<ms>`: set, the best frame in [t, t + windowMs] (src/media/engine/best-frame.ts). */
  best?: { windowMs: number };
  render: RenderRequest;
  /** Image actions on the captured frame (`video/snapshot,…|image/…`): none = the frame as rendered. */
  image?: ImagePipeline;
}

/** Image actions and the objects they need (image watermarks, by key, each a source to read whole). */
export interface ImagePipeline {
  actions: ImageAction[];
  watermarks: Record<string, SourceRef>;
}

/** `image/…` on a stored image: the object is read whole (file or read bridge) and processed. */
export interface ImageJob {
  kind: 'image';
  source: SourceRef;
  image: ImagePipeline;
}

export interface ImageResult {
  body: Uint8Array;
  contentType: string;
  timings: { open: number; decode: number; encode: number };
}

export interface CaptureResult {
  body: Uint8Array;
  /** Set when image actions chose the format (`…|image/format,png`); else the snapshot's `f`. */
  contentType: string | undefined;
  /** Presentation time of the frame returned, in ms from the stream's first frame. */
  frameTimeMs: number;
  keyframe: boolean;
  info: MediaInfo;
  timings: { open: number; decode: number; encode: number };
}

/** Every frame of the video stream in presentation order: pts (container clock, s) and key flag. */
export interface FrameIndex {
  pts: number[];
  key: boolean[];
}

export interface IndexJob {
  kind: 'index';
  source: SourceRef;
  /** Container clock (s): list from the keyframe at or before this; undefined = the whole stream. */
  from?: number;
}

export interface IndexResult {
  info: MediaInfo;
  /** Undefined for a cover picture (audio file): it has one still, no timeline. */
  index: FrameIndex | undefined;
}

/** Full images for outputs, or small grey thumbnails (difference hashes). */
/**
 * What each extracted frame becomes: an encoded image (outputs), raw RGB shaped like one (sprite tiles and
 * animation frames, assembled by src/image/sheets.ts), or a small grey thumbnail (difference hashes).
 */
export type ExtractOutput =
  | { kind: 'image'; render: RenderRequest }
  | { kind: 'pixels'; render: Omit<RenderRequest, 'format'> }
  | { kind: 'grey'; width: number; height: number };

export interface ExtractJob {
  kind: 'extract';
  source: SourceRef;
  /** The frames wanted, by pts from the index (container clock, s), ascending, no duplicates. */
  frames: readonly number[];
  /** For each wanted frame, the pts of the keyframe its decoding starts from (from the index). */
  keyframes: readonly number[];
  /** Every wanted frame is a keyframe: decode keyframes only. */
  keyframesOnly: boolean;
  output: ExtractOutput;
}

/** One extracted frame, sent as soon as it is ready; the server acknowledges each (flow control). */
export interface ExtractedFrame {
  /** Position in ExtractJob.frames. */
  position: number;
  /** pts of the frame decoded (container clock, s). */
  pts: number;
  /** Encoded image (output image), packed RGB (output pixels) or grey (output grey) pixels. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ExtractResult {
  /** Frames decoded (including those only decoded to reach a wanted one) and seeks made. */
  decoded: number;
  seeks: number;
}

export type Job = CaptureJob | IndexJob | ExtractJob | ImageJob;

export interface JobResults {
  capture: CaptureResult;
  index: IndexResult;
  extract: ExtractResult;
  image: ImageResult;
}

/** An error a job ended with: the AppError fields, rebuilt as an AppError on the server side. */
export interface JobError {
  status: number;
  code: string;
  message: string;
}

/** Settings a worker starts with (from the server's config). */
export interface WorkerSettings {
  decodeThreads: number;
  maxSourcePixels: number;
  /** Image processing: OSS's source and output limits (src/image/actions.ts). */
  imageLimits: ImageLimits;
  maxSourceDurationSeconds: number;
  quality: { jpeg: number; webp: number; avif: number };
  /** Tone-mapping curve for PQ/HLG sources; 'off' leaves the signal as it is. */
  tonemap: ToneMap;
  /** Open sources a worker keeps (demuxer + decoder each)… */
  openSources: number;
  /** …while its resident memory stays under this (bytes): above it, the least recently used close. */
  openSourcesBytes: number;
}


export type ToWorker =
  | { type: 'job'; id: number; job: Job }
  | { type: 'cancel'; id: number }
  /** Extracted frames the server has finished with (flow control: the worker runs a few ahead). */
  | { type: 'ack'; id: number; count: number };

export type FromWorker =
  | { type: 'ready'; pid: number; versions: Record<string, string> }
  | { type: 'result'; id: number; result: unknown; rss: number }
  | { type: 'error'; id: number; error: JobError; rss: number }
  | { type: 'frame'; id: number; frame: ExtractedFrame }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

// The read bridge: the worker writes a request frame and blocks until the answer frame arrives.
//   request:  u32 id length | id (utf8) | i32 segment (-1 = HLS init section, 0 for plain objects) |
//             f64 position | u32 length
//   answer:   i32 status (byte count ≥ 0, or a negative AVERROR) | bytes
/** AVERROR(EIO): the read failed (the server knows why and answers the job with it). */
export const READ_FAILED = -5;
/** AVERROR_EXIT: the job was abandoned; FFmpeg stops at once. */
export const READ_ABORTED = -0x54495845;
/** Most bytes one bridge read asks for. */
export const BRIDGE_MAX_READ = 1024 * 1024;
