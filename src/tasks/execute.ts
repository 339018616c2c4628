// Runs one accepted CreateMediaConvertTask as a pipeline, read top to bottom in executeTask():
//   1. openSources    each source still there, media, within limits; its exact frame list (one worker job)
//   2. planOutputs    which frames every (source, snapshot spec) pair wants, from that frame list
//   3. checkFrameCap  the per-task cap — all before a single output is written
//   4. extract        the capture workers decode and render (the URL API's renderer), frame by frame
//   5. writeOutput    each output written atomically through the store, then recorded
// Outputs have deterministic names, so a rerun after a crash rewrites the same objects; outputs already
// recorded are skipped.
import type { Capture, IndexedSource } from '../core/capture.js';
import { AppError, errors } from '../errors.js';
import { CONTENT_TYPES } from '../image/render.js';
import type { Logger } from '../log.js';
import type { VideoStream } from '../media/probe.js';
import type { ExtractedFrame, ExtractOutput, ExtractResult, FrameIndex, RenderRequest } from '../media/protocol.js';
import { outputUri, type ConvertTaskRequest, type Dimension, type SnapshotSpec, type TaskSource } from '../process/imm-request.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
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

/** A source opened for the task: probed and indexed. */
interface Opened {
  spec: TaskSource;
  sourceIndex: number;
  source: IndexedSource;
}

/** What one snapshot spec asks of one source; `units` count towards the cap and the progress. */
type Plan =
  | { kind: 'cover'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; units: number }
  | { kind: 'frames'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; frames: number[]; keyframes: boolean; units: number }
  | { kind: 'dhash'; opened: Opened; snapshot: SnapshotSpec; snapshotIndex: number; samples: number[]; units: number };

/** What the capture steps share: the deps, the run, and the progress counter. */
interface Step {
  deps: ExecuteDeps;
  run: TaskRun;
  /** `units` more of the task's total are done. */
  advance(units: number): void;
}

export async function executeTask(deps: ExecuteDeps, run: TaskRun): Promise<void> {
  const opened = await openSources(deps, run);
  const plans = planOutputs(run.request, opened);
  const total = checkFrameCap(plans, deps.maxFramesPerTask);
  const step: Step = { deps, run, advance: progressCounter(total, run.onProgress) };
  for (const plan of plans) {
    run.signal.throwIfAborted();
    if (plan.kind === 'cover') await captureCover(step, plan);
    else if (plan.kind === 'frames') await captureFrames(step, plan);
    else await captureDhash(step, plan);
  }
}

// 1. Sources.

async function openSources(deps: ExecuteDeps, run: TaskRun): Promise<Opened[]> {
  const opened: Opened[] = [];
  for (const [sourceIndex, spec] of run.request.sources.entries()) {
    let stat: ObjectStat;
    try {
      stat = await deps.store.stat(spec.bucket, spec.key);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw errors.resourceNotFound(`${spec.field}.URI: ${spec.uri} does not exist.`);
      throw err;
    }
    // A clipped source is indexed from its clip start (the worker knows the stream's start time).
    const source = await deps.capture.openSource(spec.bucket, spec.key, stat, spec.startTime > 0 ? spec.startTime : undefined, run.signal);
    if (source.index && !source.index.pts.length) throw errors.notMedia(`${spec.field}.URI: the video stream has no decodable frames.`);
    opened.push({ spec, sourceIndex, source });
  }
  return opened;
}

// 2. Plans.

function planOutputs(request: ConvertTaskRequest, opened: Opened[]): Plan[] {
  return opened.flatMap((o) => request.snapshots.map((snapshot, snapshotIndex) => planOf(o, snapshot, snapshotIndex)));
}

function planOf(opened: Opened, snapshot: SnapshotSpec, snapshotIndex: number): Plan {
  const { video, index } = opened.source;
  const base = { opened, snapshot, snapshotIndex };
  // An audio file's cover picture: one still, whatever the spec's times.
  if (!index) return { kind: 'cover', ...base, units: 1 };
  const clip = clipOf(opened.spec, videoEndOf(index, video.startTime, video.frameDuration));
  if (snapshot.mode === 'keyframe') {
    const frames = keyframesIn(index, video.startTime, snapshot, clip);
    return { kind: 'frames', ...base, frames, keyframes: true, units: frames.length };
  }
  if (snapshot.mode === 'dhash') {
    // The same frame sampled twice adds nothing to a change detector.
    const samples = [...new Set(framesAtTimes(index, video.startTime, sampleTimes(snapshot, clip)))];
    return { kind: 'dhash', ...base, samples, units: samples.length };
  }
  const frames = framesAtTimes(index, video.startTime, sampleTimes(snapshot, clip));
  return { kind: 'frames', ...base, frames, keyframes: false, units: frames.length };
}

// 3. The cap on frames per task (dhash: samples), over every source and spec. Answers the total.

function checkFrameCap(plans: Plan[], maxFramesPerTask: number): number {
  const total = plans.reduce((sum, p) => sum + p.units, 0);
  if (total > maxFramesPerTask) {
    throw errors.immLimitExceeded(
      `The task would capture ${total} frames, above the limit of ${maxFramesPerTask} frames per task: set Number, a larger Interval or a shorter Sources[].Duration.`,
    );
  }
  return total;
}

/** Progress in percent of the total units, held below 100 until the task has ended. */
function progressCounter(total: number, onProgress: (percent: number) => void): (units: number) => void {
  let completed = 0;
  return (units) => {
    completed += units;
    onProgress(total ? Math.min(99, Math.floor((completed * 100) / total)) : 99);
  };
}

// 4. Extraction, one function per kind of plan.

/** An audio file's cover picture: output 1. */
async function captureCover(step: Step, plan: Plan) {
  const cover = { pts: [plan.opened.source.video.startTime], key: [true] };
  await extract(step, plan, cover, [0], false, renderOutput(plan), (_, frame) => writeOutput(step, plan, 1, frame));
  step.advance(1);
}

/** Output k (1-based) shows frame plan.frames[k-1]; one frame may serve several outputs. */
async function captureFrames(step: Step, plan: Extract<Plan, { kind: 'frames' }>) {
  const outputsOf = new Map<number, number[]>();
  for (const [k, frame] of plan.frames.entries()) {
    if (step.run.done.has(targetOf(step, plan, k + 1).uri)) step.advance(1);
    else outputsOf.set(frame, [...(outputsOf.get(frame) ?? []), k + 1]);
  }
  const wanted = [...outputsOf.keys()].sort((a, b) => a - b);
  await extract(step, plan, plan.opened.source.index!, wanted, plan.keyframes, renderOutput(plan), async (position, frame) => {
    for (const k of outputsOf.get(wanted[position]!) ?? []) {
      await writeOutput(step, plan, k, frame);
      step.advance(1);
    }
  });
}

/**
 * dhash: 1. hash every sample from a 9×8 grey thumbnail the engine makes: no full frame is rendered
 * while the selection is open; 2. select in time order, then render just the chosen frames.
 */
async function captureDhash(step: Step, plan: Extract<Plan, { kind: 'dhash' }>) {
  const index = plan.opened.source.index!;
  const hashes: bigint[] = new Array(plan.samples.length);
  await extract(step, plan, index, plan.samples, false, HASH_THUMBNAIL, async (position, frame) => {
    hashes[position] = hashOfThumbnail(Buffer.from(frame.data));
    step.advance(1);
  });
  const selector = new DhashSelector(plan.snapshot.threshold, plan.snapshot.number);
  // forEach, not for…of: positions never hashed (holes) are skipped.
  hashes.forEach((hash, position) => {
    selector.add(position, hash);
  });
  const chosen = selector.finish().map((position) => plan.samples[position]!);
  await extract(step, plan, index, chosen, false, renderOutput(plan), (position, frame) => writeOutput(step, plan, position + 1, frame));
}

/** Has the workers decode `frames` (indices into `index`) and hands each to `onFrame`, in order. */
async function extract(
  step: Step,
  plan: Plan,
  index: FrameIndex,
  frames: readonly number[],
  keyframesOnly: boolean,
  output: ExtractOutput,
  onFrame: (position: number, frame: ExtractedFrame) => Promise<void>,
) {
  const { deps, run } = step;
  const report = await deps.capture.extract(
    plan.opened.source,
    { frames: frames.map((i) => index.pts[i]!), keyframes: frames.map((i) => index.pts[keyframeOf(index, i)]!), keyframesOnly, output },
    (frame) => onFrame(frame.position, frame),
    run.signal,
  );
  deps.onReport?.(report, frames.length);
  deps.log.debug('task frames extracted', { taskId: run.taskId, snapshot: plan.snapshot.field, source: plan.opened.spec.field, frames: frames.length, decoded: report.decoded, seeks: report.seeks });
}

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

/** The image a plan's outputs are rendered to; IMM outputs are upright, as a player shows them. */
function renderOutput(plan: Plan): ExtractOutput {
  const render: RenderRequest = { format: plan.snapshot.format, orientation: 'auto', ...outputSize(plan.snapshot, plan.opened.source.video), scaleType: plan.snapshot.scaleType };
  return { kind: 'image', render };
}

// 5. Outputs.

/** Output `outputIndex` (1-based) of a plan: its object, from the spec's URI template. */
function targetOf(step: Step, plan: Plan, outputIndex: number) {
  const { request } = step.run;
  return outputUri(plan.snapshot, plan.opened.spec, { index: outputIndex, createdAt: request.createdAt, sourceModified: plan.opened.source.stat.lastModified, tags: request.tags });
}

/** Writes one output (unless an earlier run recorded it) and records it. */
async function writeOutput(step: Step, plan: Plan, outputIndex: number, frame: ExtractedFrame) {
  const { deps, run } = step;
  const target = targetOf(step, plan, outputIndex);
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
}
