// Runs one CreateMediaConvertTask as a visible pipeline: open each source (probe and frame index in one
// worker job), plan every snapshot spec against the exact frame list, check the per-task cap — all
// before a single output is written — then extract (the workers decode and render; the URL API's
// renderer) and write each output atomically through the store. Outputs have deterministic names, so a
// re-run after a crash rewrites the same objects; outputs already recorded are skipped.
import type { Capture, IndexedSource } from '../core/capture.js';
import { AppError, errors } from '../errors.js';
import { CONTENT_TYPES } from '../image/render.js';
import type { Logger } from '../log.js';
import type { VideoStream } from '../media/probe.js';
import type { ExtractedFrame, ExtractOutput, ExtractResult, FrameIndex, RenderRequest } from '../media/protocol.js';
import { outputUri, type ConvertTaskRequest, type Dimension, type SnapshotSpec, type TaskSource } from '../process/imm-request.js';
import type { ObjectStore } from '../source/store.js';
import { DhashSelector, HASH_THUMBNAIL, hashOfThumbnail } from './dhash.js';
import { clipOf, framesAtTimes, keyframeOf, keyframesIn, sampleTimes, videoEndOf } from './frame-plan.js';
import type { OutputRecord } from './records.js';

export interface ExecuteDeps {
  store: ObjectStore;
  /** Where outputs are written (the main store unless that is read-only). */
  outputStore: ObjectStore;
  capture: Capture;
  maxFramesPerTask: number;
  log: Logger;
  /** Called after each extraction: frames decoded and seeks made by the worker. */
  onReport?: (report: ExtractResult, frames: number) => void;
}

export interface TaskRun {
  taskId: string;
  /** The accepted request (its createdAt gives the {t_*} variables). */
  request: ConvertTaskRequest;
  /** URIs already written by an earlier, interrupted run. */
  done: ReadonlySet<string>;
  signal: AbortSignal;
  onProgress(percent: number): void;
  onOutput(output: OutputRecord): Promise<void>;
}

interface Opened {
  spec: TaskSource;
  sourceIndex: number;
  source: IndexedSource;
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

/** IMM outputs are upright, as a player shows them. */
function renderOf(snapshot: SnapshotSpec, video: VideoStream): RenderRequest {
  return { format: snapshot.format, orientation: 'auto', ...outputSize(snapshot, video), scaleType: snapshot.scaleType };
}

export async function executeTask(deps: ExecuteDeps, run: TaskRun): Promise<void> {
  const { store, capture } = deps;
  const { request, signal } = run;

  // 1. Sources: still there, media, within limits; each one's exact frame list.
  const opened: Opened[] = [];
  for (const [sourceIndex, spec] of request.sources.entries()) {
    let stat;
    try {
      stat = await store.stat(spec.bucket, spec.key);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw errors.resourceNotFound(`${spec.field}.URI: ${spec.uri} does not exist.`);
      throw err;
    }
    // A clipped source is indexed from its clip start (the worker knows the stream's start time).
    const source = await capture.openSource(spec.bucket, spec.key, stat, spec.startTime > 0 ? spec.startTime : undefined, signal);
    if (source.index && !source.index.pts.length) throw errors.notMedia(`${spec.field}.URI: the video stream has no decodable frames.`);
    opened.push({ spec, sourceIndex, source });
  }

  // 2. Plans, and the cap on frames per task, before anything is written.
  const plans: Plan[] = [];
  for (const o of opened) {
    const { video, index } = o.source;
    for (const [snapshotIndex, snapshot] of request.snapshots.entries()) {
      const base = { opened: o, snapshot, snapshotIndex };
      if (!index) {
        // An audio file's cover picture: one still, whatever the spec's times.
        plans.push({ kind: 'cover', ...base, units: 1 });
        continue;
      }
      const clip = clipOf(o.spec, videoEndOf(index, video.startTime, video.frameDuration));
      if (snapshot.mode === 'keyframe') {
        const frames = keyframesIn(index, video.startTime, snapshot, clip);
        plans.push({ kind: 'frames', ...base, frames, keyframes: true, units: frames.length });
      } else if (snapshot.mode === 'dhash') {
        // The same frame sampled twice adds nothing to a change detector.
        const samples = [...new Set(framesAtTimes(index, video.startTime, sampleTimes(snapshot, clip)))];
        plans.push({ kind: 'dhash', ...base, samples, units: samples.length });
      } else {
        const frames = framesAtTimes(index, video.startTime, sampleTimes(snapshot, clip));
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
  let completed = 0;
  const progress = (units: number) => {
    completed += units;
    run.onProgress(total ? Math.min(99, Math.floor((completed * 100) / total)) : 99);
  };
  const targetOf = (plan: Plan, outputIndex: number) =>
    outputUri(plan.snapshot, plan.opened.spec, { index: outputIndex, createdAt: request.createdAt, sourceModified: plan.opened.source.stat.lastModified, tags: request.tags });

  const write = async (plan: Plan, outputIndex: number, frame: ExtractedFrame) => {
    const target = targetOf(plan, outputIndex);
    if (run.done.has(target.uri)) return;
    const body = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    // The store writes beside the target and renames: the object appears whole or not at all.
    await deps.outputStore.write(target.bucket, target.key, body, CONTENT_TYPES[plan.snapshot.format]);
    await run.onOutput({
      URI: target.uri,
      Index: outputIndex,
      SourceIndex: plan.opened.sourceIndex,
      SnapshotIndex: plan.snapshotIndex,
      TimeMs: Math.max(0, Math.round((frame.pts - plan.opened.source.video.startTime) * 1000)),
      Width: frame.width,
      Height: frame.height,
      Size: body.length,
    });
  };

  /** Decodes `frames` (indices into the index) and hands each to `onFrame`, in order. */
  const extract = async (plan: Plan, index: FrameIndex, frames: readonly number[], keyframesOnly: boolean, output: ExtractOutput, onFrame: (position: number, frame: ExtractedFrame) => Promise<void>) => {
    const report = await capture.extract(
      plan.opened.source,
      { frames: frames.map((i) => index.pts[i]!), keyframes: frames.map((i) => index.pts[keyframeOf(index, i)]!), keyframesOnly, output },
      (frame) => onFrame(frame.position, frame),
      signal,
    );
    deps.onReport?.(report, frames.length);
    deps.log.debug('task frames extracted', { taskId: run.taskId, snapshot: plan.snapshot.field, source: plan.opened.spec.field, frames: frames.length, decoded: report.decoded, seeks: report.seeks });
  };

  for (const plan of plans) {
    signal.throwIfAborted();
    const { source } = plan.opened;
    const render: ExtractOutput = { kind: 'image', render: renderOf(plan.snapshot, source.video) };
    if (plan.kind === 'cover') {
      const cover = { pts: [source.video.startTime], key: [true] };
      await extract(plan, cover, [0], false, render, (_, frame) => write(plan, 1, frame));
      progress(1);
      continue;
    }
    const index = source.index!;
    if (plan.kind === 'frames') {
      // Output k (1-based) shows frame plan.frames[k-1]; one frame may serve several outputs.
      const outputsOf = new Map<number, number[]>();
      plan.frames.forEach((frame, k) => {
        if (run.done.has(targetOf(plan, k + 1).uri)) return progress(1);
        outputsOf.set(frame, [...(outputsOf.get(frame) ?? []), k + 1]);
      });
      const wanted = [...outputsOf.keys()].sort((a, b) => a - b);
      await extract(plan, index, wanted, plan.keyframes, render, async (position, frame) => {
        for (const k of outputsOf.get(wanted[position]!) ?? []) {
          await write(plan, k, frame);
          progress(1);
        }
      });
      continue;
    }
    // dhash: 1. hash every sample from a 9×8 grey thumbnail the engine makes: no full frame is rendered
    //    while the selection is open; 2. select in time order, then render just the chosen frames.
    const hashes: bigint[] = new Array(plan.samples.length);
    await extract(plan, index, plan.samples, false, HASH_THUMBNAIL, async (position, frame) => {
      hashes[position] = hashOfThumbnail(Buffer.from(frame.data));
      progress(1);
    });
    const selector = new DhashSelector(plan.snapshot.threshold, plan.snapshot.number);
    hashes.forEach((hash, position) => selector.add(position, hash));
    const chosen = selector.finish().map((position) => plan.samples[position]!);
    await extract(plan, index, chosen, false, render, (position, frame) => write(plan, position + 1, frame));
  }
}
