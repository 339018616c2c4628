// Gets a task's wanted frames out of one source at the lowest cost: one decoding pass when the frames
// are dense (or keyframes only), one multi-seek run when they are sparse, chosen per job by a cost model
// over the exact frame list. Every ffmpeg run holds a batch-lane slot of the shared limiter. A frame
// neither run produced is fetched by the URL API's own frameAt(), so the answer never depends on the
// fast path having worked.
import type { Capture, OpenSource } from '../core/capture.js';
import type { Limiter } from '../core/limiter.js';
import sharp from 'sharp';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { AbortedError } from '../media/run.js';
import { decodePass, decodeSeeks, ffmpegTraits, keyframeOf, seekBatchSize, type FrameIndex, type FrameOutput, type PixelFrame } from '../media/multi-frame.js';
import type { FfmpegRunner } from '../media/runner.js';
import type { VideoStream } from '../media/probe.js';

export type Strategy = 'pass' | 'seek';

export interface ExtractContext {
  runner: FfmpegRunner;
  limiter: Limiter;
  capture: Capture;
  timeoutMs: number;
  strategy: 'auto' | Strategy;
  /** ms one ffmpeg start costs here (see measureSpawnMs). */
  spawnMs: number;
  /** Counts the multi-frame ffmpeg runs (they bypass the runner's own accounting). */
  onSpawn?: () => void;
  log?: Logger;
}

/** Errors a decoding run reports about the media (runner.classify's "bad input" answer). */
const decodingFailure = (err: AppError) => err.message.startsWith('Could not decode the video');

export interface ExtractJob {
  source: OpenSource;
  index: FrameIndex;
  /** Frame indices into `index`, ascending, no duplicates. */
  wanted: readonly number[];
  /** Every wanted frame is a keyframe and may be decoded without its neighbours. */
  keyframesOnly: boolean;
  /** Full RGB frames (default) or small grey thumbnails (dhash). */
  output?: FrameOutput;
}

/** `frame` is full-size RGB (channels 3) unless the job asked for grey thumbnails. */
export type OnFrame = (position: number, frame: PixelFrame, pts: number) => Promise<void>;

export interface ExtractReport {
  strategy: Strategy;
  /** ffmpeg runs (passes or seek batches), not counting per-frame fallbacks. */
  runs: number;
  fallbacks: number;
  estimate: { pass: number; seek: number };
}

// Cost model, in ms, fitted on this project's benchmark (H.264, 2 cores) and scaled by frame size:
// a pass decodes with frame threads; each seek input decodes single-threaded after opening its own
// demuxer and decoder.
const PASS_MS_PER_MEGAPIXEL_FRAME = 1.4;
const SEEK_MS_PER_MEGAPIXEL_FRAME = 2.0;
const SEEK_INPUT_MS = 12;
const SEEK_INPUT_MS_PER_MEGAPIXEL = 12;
// Frames a single pass selects at most: bounds the select expression's length.
const MAX_PASS_FRAMES = 400;

export function estimateCosts(index: FrameIndex, wanted: readonly number[], keyframesOnly: boolean, video: VideoStream, spawnMs: number) {
  const mp = (video.width * video.height) / 1e6;
  if (!wanted.length) return { pass: 0, seek: 0 };
  let pass = 0;
  for (let start = 0; start < wanted.length; start += MAX_PASS_FRAMES) {
    const chunk = wanted.slice(start, start + MAX_PASS_FRAMES);
    const from = keyframeOf(index, chunk[0]!);
    const to = chunk[chunk.length - 1]!;
    let decoded = to - from + 1;
    if (keyframesOnly) {
      decoded = 0;
      for (let i = from; i <= to; i++) if (index.key[i]) decoded++;
    }
    pass += spawnMs + decoded * mp * (keyframesOnly ? SEEK_MS_PER_MEGAPIXEL_FRAME : PASS_MS_PER_MEGAPIXEL_FRAME);
  }
  let seek = Math.ceil(wanted.length / seekBatchSize(video)) * spawnMs;
  for (const i of wanted) {
    const decoded = index.key[i] ? 1 : i - keyframeOf(index, i) + 1;
    seek += SEEK_INPUT_MS + SEEK_INPUT_MS_PER_MEGAPIXEL * mp + decoded * mp * SEEK_MS_PER_MEGAPIXEL_FRAME;
  }
  return { pass, seek };
}

/** Wall time of starting this ffmpeg (shared-library loading dominates distro builds), measured once. */
export async function measureSpawnMs(runner: FfmpegRunner): Promise<number> {
  return (await ffmpegTraits(runner)).spawnMs;
}

export async function extractFrames(ctx: ExtractContext, job: ExtractJob, signal: AbortSignal, onFrame: OnFrame): Promise<ExtractReport> {
  const { source, index, wanted, keyframesOnly } = job;
  const { input, info, video } = source;
  const estimate = estimateCosts(index, wanted, keyframesOnly, video, ctx.spawnMs);
  const strategy: Strategy = ctx.strategy !== 'auto' ? ctx.strategy : estimate.seek < estimate.pass ? 'seek' : 'pass';
  const got = new Set<number>();
  let runs = 0;
  const common = { runner: ctx.runner, timeoutMs: ctx.timeoutMs, signal, onSpawn: ctx.onSpawn, input, info, video, index };

  const size = strategy === 'pass' ? MAX_PASS_FRAMES : seekBatchSize(video);
  for (let start = 0; start < wanted.length; start += size) {
    const chunk = wanted.slice(start, start + size);
    runs++;
    try {
      await ctx.limiter.run(
        async () => {
          const frames =
            strategy === 'pass'
              ? decodePass({ ...common, wanted: chunk, keyframesOnly, output: job.output })
              : decodeSeeks({ ...common, wanted: chunk, output: job.output });
          for await (const decoded of frames) {
            const position = start + decoded.position;
            got.add(position);
            await onFrame(position, decoded.frame, decoded.pts);
          }
        },
        signal,
        'batch',
      );
    } catch (err) {
      // Cancelled, out of time, or the output side failed: that is the task's answer. A decoding run
      // that broke down (damaged data mid-file, say) only loses its remaining frames to the fallback.
      if (signal.aborted || err instanceof AbortedError || !(err instanceof AppError) || err.status !== 400 || !decodingFailure(err)) throw err;
      ctx.log?.warn('task decoding run failed; fetching its frames one by one', { error: err.message });
    }
  }

  let fallbacks = 0;
  for (let position = 0; position < wanted.length; position++) {
    if (got.has(position)) continue;
    fallbacks++;
    const pts = index.pts[wanted[position]!]!;
    const timeMs = (pts - video.startTime) * 1000;
    const captured = await ctx.limiter.run(
      () => ctx.capture.frameAt(source, timeMs, keyframesOnly ? 'keyframe' : 'exact', signal),
      signal,
      'batch',
    );
    let frame: PixelFrame = captured.frame;
    if (job.output?.kind === 'grey') {
      const { width, height } = job.output;
      const { data } = captured.frame;
      frame = {
        data: await sharp(data, { raw: { width: captured.frame.width, height: captured.frame.height, channels: 3 } }).greyscale().resize(width, height, { fit: 'fill' }).raw().toBuffer(),
        width,
        height,
        channels: 1,
      };
    }
    await onFrame(position, frame, video.startTime + captured.frameTimeMs / 1000);
  }
  return { strategy, runs, fallbacks, estimate };
}
