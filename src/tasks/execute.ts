// Runs one CreateMediaConvertTask: open each source (the URL API's openSource: stat, cached probe,
// limits), plan every snapshot spec against the exact frame list, check the per-task cap — all before a
// single output is written — then extract, render (the URL API's renderFrame) and write each output
// atomically through the store. Outputs have deterministic names, so a re-run after a crash rewrites
// the same objects; outputs already recorded are skipped.
import sharp from 'sharp';
import type { Capture, OpenSource } from '../core/capture.js';
import type { Limiter } from '../core/limiter.js';
import { AppError, errors } from '../errors.js';
import { CONTENT_TYPES, renderFrame, type RenderOptions } from '../image/render.js';
import type { RawFrame } from '../media/decode.js';
import { scanAllVideoFrames, scanFrames, type FrameIndex } from '../media/multi-frame.js';
import type { VideoStream } from '../media/probe.js';
import type { FfmpegRunner } from '../media/runner.js';
import { outputUri, type ConvertTaskRequest, type Dimension, type SnapshotSpec, type TaskSource } from '../process/imm-request.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import { DhashSelector, HASH_THUMBNAIL, differenceHash } from './dhash.js';
import { extractFrames, measureSpawnMs, type ExtractContext, type ExtractReport } from './extract.js';
import { clipOf, framesAtTimes, keyframesIn, sampleTimes, videoEndOf } from './frame-plan.js';
import type { OutputRecord } from './journal.js';
import type { Logger } from '../log.js';

export interface ExecuteDeps {
  store: ObjectStore;
  /** Where outputs are written (the main store unless that is read-only). */
  outputStore: ObjectStore;
  capture: Capture;
  runner: FfmpegRunner;
  limiter: Limiter;
  quality: RenderOptions['quality'];
  maxFramesPerTask: number;
  ffmpegTimeoutMs: number;
  strategy: ExtractContext['strategy'];
  log: Logger;
  onSpawn?: () => void;
  /** Called after each extraction: which path served how many frames. */
  onReport?: (report: ExtractReport, frames: number) => void;
}

export interface TaskRun {
  taskId: string;
  request: ConvertTaskRequest;
  createdAt: Date;
  /** URIs already written by an earlier, interrupted run. */
  done: ReadonlySet<string>;
  signal: AbortSignal;
  onProgress(percent: number): void;
  onOutput(output: OutputRecord): Promise<void>;
}

interface Opened {
  spec: TaskSource;
  sourceIndex: number;
  stat: ObjectStat;
  source: OpenSource;
  index: FrameIndex | undefined;
}

type Plan =
  | { kind: 'cover'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; units: number }
  | { kind: 'frames'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; frames: number[]; keyframes: boolean; units: number }
  | { kind: 'dhash'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; samples: number[]; units: number };

function pixels(dimension: Dimension | undefined, size: number): number {
  if (!dimension) return 0;
  return 'pixels' in dimension ? dimension.pixels : Math.max(1, Math.round(dimension.fraction * size));
}

/** Requested output size in pixels (0 = derive), fractions taken of the upright display size. */
export function outputSize(snapshot: SnapshotSpec, video: VideoStream): { width: number; height: number } {
  let width = Math.max(1, Math.round(video.width * video.sampleAspect));
  let height = video.height;
  if (video.rotation % 180) [width, height] = [height, width];
  return { width: pixels(snapshot.width, width), height: pixels(snapshot.height, height) };
}

export async function executeTask(deps: ExecuteDeps, run: TaskRun): Promise<void> {
  const { store, capture, runner, limiter } = deps;
  const { request, signal } = run;
  const batch = <T>(work: () => Promise<T>) => limiter.run(work, signal, 'batch');

  // 1. Sources: still there, media, within limits; each one's exact frame list.
  const opened: Opened[] = [];
  for (const [sourceIndex, spec] of request.sources.entries()) {
    let stat: ObjectStat;
    try {
      stat = await store.stat(spec.bucket, spec.key);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw errors.resourceNotFound(`${spec.field}.URI: ${spec.uri} does not exist.`);
      throw err;
    }
    // Probe and frame scan are both short reads of the container: run them side by side in one slot
    // (the scan lists every video stream; the probe then says which one is the video).
    const [source, scanned] = await batch(async () => {
      const controller = new AbortController();
      const both = AbortSignal.any([signal, controller.signal]);
      const scan = spec.startTime > 0 ? undefined : scanAllVideoFrames(runner, await store.mediaInput(spec.bucket, spec.key, stat), both);
      scan?.catch(() => {});
      try {
        return [await capture.openSource(spec.bucket, spec.key, stat, signal), await scan] as const;
      } finally {
        controller.abort();
      }
    });
    let index: FrameIndex | undefined;
    if (!source.video.isCoverArt) {
      const from = source.video.startTime + spec.startTime;
      index = scanned ? scanned(source.video.index) : await batch(() => scanFrames(runner, source.input, source.video, from, signal));
      if (!index.pts.length) throw errors.notMedia(`${spec.field}.URI: the video stream has no decodable frames.`);
    }
    opened.push({ spec, sourceIndex, stat, source, index });
  }

  // 2. Plans, and the cap on frames per task, before anything is written.
  const plans: Plan[] = [];
  for (const o of opened) {
    for (const [snapshotIndex, snapshot] of request.snapshots.entries()) {
      const base = { opened: o, snapshot, snapshotIndex };
      if (!o.index) {
        // An audio file's cover picture: one still, whatever the spec's times.
        plans.push({ kind: 'cover', ...base, units: 1 });
        continue;
      }
      const { video } = o.source;
      const clip = clipOf(o.spec, videoEndOf(o.index, video.startTime, video.frameDuration));
      if (snapshot.mode === 'keyframe') {
        const frames = keyframesIn(o.index, video.startTime, snapshot, clip);
        plans.push({ kind: 'frames', ...base, frames, keyframes: true, units: frames.length });
      } else if (snapshot.mode === 'dhash') {
        // The same frame sampled twice adds nothing to a change detector.
        const samples = [...new Set(framesAtTimes(o.index, video.startTime, sampleTimes(snapshot, clip)))];
        plans.push({ kind: 'dhash', ...base, samples, units: samples.length });
      } else {
        const frames = framesAtTimes(o.index, video.startTime, sampleTimes(snapshot, clip));
        plans.push({ kind: 'frames', ...base, frames, keyframes: false, units: frames.length });
      }
    }
  }
  const total = plans.reduce((sum, p) => sum + p.units, 0);
  if (total > deps.maxFramesPerTask) {
    throw errors.immLimitExceeded(
      `The task would capture ${total} frames, above the limit of ${deps.maxFramesPerTask} frames per task: set Number, a larger Interval or a shorter Sources[].Duration.`,
    );
  }

  // 3. Extract, render, write.
  const ctx: ExtractContext = {
    runner,
    limiter,
    capture,
    timeoutMs: deps.ffmpegTimeoutMs,
    strategy: deps.strategy,
    spawnMs: await measureSpawnMs(runner),
    onSpawn: deps.onSpawn,
    log: deps.log,
  };
  let completed = 0;
  const progress = (units: number) => {
    completed += units;
    run.onProgress(total ? Math.min(99, Math.floor((completed * 100) / total)) : 99);
  };

  const emit = async (plan: Plan, outputIndex: number, frame: RawFrame, pts: number) => {
    const { opened: o, snapshot } = plan;
    const target = outputUri(snapshot, o.spec, {
      index: outputIndex,
      createdAt: run.createdAt,
      sourceModified: o.stat.lastModified,
      tags: request.tags,
    });
    if (run.done.has(target.uri)) return;
    const { video } = o.source;
    const size = outputSize(snapshot, video);
    const body = await renderFrame(frame, {
      format: snapshot.format,
      // IMM outputs are upright, as a player shows them.
      orientation: 'auto',
      rotation: video.rotation,
      sampleAspect: video.sampleAspect,
      width: size.width,
      height: size.height,
      scaleType: snapshot.scaleType,
      quality: deps.quality,
    });
    const meta = await sharp(body).metadata();
    // The store writes beside the target and renames: the object appears whole or not at all.
    await deps.outputStore.write(target.bucket, target.key, body, CONTENT_TYPES[snapshot.format]);
    await run.onOutput({
      URI: target.uri,
      Index: outputIndex,
      SourceIndex: o.sourceIndex,
      SnapshotIndex: plan.snapshotIndex,
      TimeMs: Math.max(0, Math.round((pts - video.startTime) * 1000)),
      Width: meta.width ?? 0,
      Height: meta.height ?? 0,
      Size: body.length,
    });
  };

  for (const plan of plans) {
    signal.throwIfAborted();
    const { source } = plan.opened;
    if (plan.kind === 'cover') {
      const captured = await batch(() => capture.frameAt(source, 0, 'exact', signal));
      await emit(plan, 1, captured.frame, source.video.startTime + captured.frameTimeMs / 1000);
      progress(1);
      continue;
    }
    const index = plan.opened.index!;
    if (plan.kind === 'frames') {
      await runFramesPlan(plan, index);
    } else {
      await runDhashPlan(plan, index);
    }
  }

  async function runFramesPlan(plan: Extract<Plan, { kind: 'frames' }>, index: FrameIndex) {
    // Output k (1-based) shows frame plan.frames[k-1]; one frame may serve several outputs.
    const outputsOf = new Map<number, number[]>();
    plan.frames.forEach((frame, k) => {
      const uri = outputUri(plan.snapshot, plan.opened.spec, { index: k + 1, createdAt: run.createdAt, sourceModified: plan.opened.stat.lastModified, tags: request.tags }).uri;
      if (run.done.has(uri)) {
        progress(1);
        return;
      }
      outputsOf.set(frame, [...(outputsOf.get(frame) ?? []), k + 1]);
    });
    const wanted = [...outputsOf.keys()].sort((a, b) => a - b);
    const report = await extractFrames(ctx, { source: plan.opened.source, index, wanted, keyframesOnly: plan.keyframes }, signal, async (position, frame, pts) => {
      const outputs = outputsOf.get(wanted[position]!) ?? [];
      for (const k of outputs) {
        await emit(plan, k, frame as RawFrame, pts);
        progress(1);
      }
    });
    logReport(plan, report, wanted.length);
  }

  async function runDhashPlan(plan: Extract<Plan, { kind: 'dhash' }>, index: FrameIndex) {
    // 1. Hash every sample from a 9×8 grey thumbnail ffmpeg makes: no full frame is converted, piped
    //    or kept while the selection is open.
    const hashes: bigint[] = new Array(plan.samples.length);
    const hashing = await extractFrames(
      ctx,
      { source: plan.opened.source, index, wanted: plan.samples, keyframesOnly: false, output: HASH_THUMBNAIL },
      signal,
      async (position, frame) => {
        hashes[position] = await differenceHash(frame);
        progress(1);
      },
    );
    logReport(plan, hashing, plan.samples.length);
    // 2. Select in time order, then decode just the chosen frames at full size.
    const selector = new DhashSelector(plan.snapshot.threshold, plan.snapshot.number);
    hashes.forEach((hash, position) => selector.add(position, hash));
    const chosen = selector.finish();
    const wanted = chosen.map((position) => plan.samples[position]!);
    const report = await extractFrames(ctx, { source: plan.opened.source, index, wanted, keyframesOnly: false }, signal, (position, frame, pts) =>
      emit(plan, position + 1, frame as RawFrame, pts),
    );
    logReport(plan, report, wanted.length);
  }

  function logReport(plan: Plan, report: ExtractReport, frames: number) {
    deps.onReport?.(report, frames);
    deps.log.debug('task frames extracted', {
      taskId: run.taskId,
      snapshot: plan.snapshot.field,
      source: plan.opened.spec.field,
      frames,
      strategy: report.strategy,
      runs: report.runs,
      fallbacks: report.fallbacks,
      estimateMs: { pass: Math.round(report.estimate.pass), seek: Math.round(report.estimate.seek) },
    });
  }
}
