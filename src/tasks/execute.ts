// Runs one accepted CreateMediaConvertTask as a pipeline, read top to bottom in executeTask():
//   1. openSources    each source still there, media, within limits; its exact frame list (one worker job)
//   2. planOutputs    which frames every (source, spec) pair wants, from that frame list — snapshots,
//                     sprite tiles and animation frames chosen by the same code — and the sheets' layout
//   3. checkFrameCap  the per-task cap — all before a single output is written
//   4. extract        the capture workers decode and render (the URL API's renderer), frame by frame:
//                     encoded images for snapshots, RGB for sheets (composed here) and animations
//   5. writeOutput    each output (image, sheet, animation) written atomically through the store, then recorded
// Outputs have deterministic names, so a rerun after a crash rewrites the same objects; outputs already
// recorded are skipped.
import type { Capture, IndexedSource } from '../core/capture.js';
import { AppError, errors } from '../errors.js';
import { planGeometry } from '../image/geometry.js';
import { CONTENT_TYPES, type RgbPicture } from '../image/render.js';
import {
  composeSheet,
  encodeAnimation,
  MAX_ANIMATION_FRAMES,
  MAX_ANIMATION_PIXELS,
  MAX_SHEET_PIXELS,
  maxSheetSide,
  sheetSize,
  tilesPerSheet,
  type SheetFormat,
  type SheetLayout,
} from '../image/sheets.js';
import type { Logger } from '../log.js';
import type { VideoStream } from '../media/probe.js';
import type { ExtractedFrame, ExtractOutput, ExtractResult, FrameIndex, RenderRequest } from '../media/protocol.js';
import {
  outputUri,
  type AnimationSpec,
  type ConvertTaskRequest,
  type Dimension,
  type FrameSelection,
  type OutputSpec,
  type SpriteSpec,
  type TaskSource,
} from '../process/imm-request.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import { HASH_THUMBNAIL, hashOfThumbnail, selectChanged } from './dhash.js';
import { clipOf, dhashSamples, keyframeOf, keyframesIn, sampledFrames, videoEndOf } from './frame-plan.js';
import type { OutputRecord } from './records.js';
import type { Quality } from '../image/render.js';

export interface ExecuteDeps {
  store: ObjectStore;
  /** Where outputs are written (the main store unless that is read-only). */
  outputStore: ObjectStore;
  capture: Capture;
  maxFramesPerTask: number;
  /** Encoding quality of sprite sheets and WebP animations (snapshots are encoded by the workers). */
  quality: Quality;
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

/** The frames a spec wants of a source (frame-plan.ts): a cover's one still, a list, or dhash samples to choose from. */
type Selection =
  | { kind: 'cover' }
  | { kind: 'frames'; frames: number[]; keyframes: boolean }
  | { kind: 'dhash'; samples: number[] };

/**
 * What one output spec (snapshot, sprite or animation) asks of one source: its frames, what the workers
 * make of each (an encoded image, or RGB for sheets and animations), and `units` (frames, tiles, dhash
 * samples) that count towards the cap and the progress. `specIndex` is the spec's index within its kind.
 */
interface Plan {
  opened: Opened;
  spec: OutputSpec;
  specIndex: number;
  selection: Selection;
  output: ExtractOutput;
  /** Sprites: the sheets' layout. */
  layout?: SheetLayout;
  units: number;
}

/** The frames chosen for a plan, as the workers are asked for them; `counted`: each one is a unit of progress. */
interface Chosen {
  index: FrameIndex;
  frames: number[];
  keyframesOnly: boolean;
  counted: boolean;
}

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
    const chosen = await chooseFrames(step, plan);
    if (plan.spec.kind === 'snapshot') await writeSnapshots(step, plan, chosen);
    else if (plan.spec.kind === 'sprite') await writeSprites(step, plan, plan.layout!, chosen);
    else await writeAnimation(step, plan, plan.spec, chosen);
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

// 2. Plans: snapshots, then sprites, then animations, of every source in turn.

function planOutputs(request: ConvertTaskRequest, opened: Opened[]): Plan[] {
  return opened.flatMap((o) => [
    ...request.snapshots.map((spec, i) => planOf(o, spec, i)),
    ...request.sprites.map((spec, i) => planOf(o, spec, i)),
    ...request.animations.map((spec, i) => planOf(o, spec, i)),
  ]);
}

function planOf(opened: Opened, spec: OutputSpec, specIndex: number): Plan {
  const { selection, units } = selectionOf(opened, spec);
  const video = opened.source.video;
  switch (spec.kind) {
    case 'snapshot':
      return { opened, spec, specIndex, selection, units, output: { kind: 'image', render: { format: spec.format, orientation: 'auto', ...outputSize(spec, video), scaleType: spec.scaleType } } };
    case 'sprite': {
      const { layout, render } = spriteLayout(spec, video);
      return { opened, spec, specIndex, selection, units, layout, output: { kind: 'pixels', render } };
    }
    case 'animation': {
      const render = { orientation: 'auto', ...outputSize(spec, video), scaleType: spec.scaleType } as const;
      const frame = planGeometry(video, render).output;
      if (units > MAX_ANIMATION_FRAMES) {
        throw errors.invalidArgument(
          `${spec.field} would have ${units} frames, above the limit of ${MAX_ANIMATION_FRAMES} per animation: set Number, a larger Interval or a shorter Sources[].Duration.`,
        );
      }
      if (units * frame.width * frame.height > MAX_ANIMATION_PIXELS) {
        throw errors.invalidArgument(
          `${spec.field} would have ${units} frames of ${frame.width}x${frame.height} px, above the limit of ${MAX_ANIMATION_PIXELS / 1e6} megapixels per animation: set a smaller Width/Height or fewer frames.`,
        );
      }
      return { opened, spec, specIndex, selection, units, output: { kind: 'pixels', render } };
    }
  }
}

/** The frames of a spec, the same for snapshots, sprite tiles and animation frames. */
function selectionOf(opened: Opened, spec: FrameSelection): { selection: Selection; units: number } {
  const { video, index } = opened.source;
  // An audio file's cover picture: one still, whatever the spec's times.
  if (!index) return { selection: { kind: 'cover' }, units: 1 };
  const clip = clipOf(opened.spec, videoEndOf(index, video.startTime, video.frameDuration));
  if (spec.mode === 'keyframe') {
    const frames = keyframesIn(index, video.startTime, spec, clip);
    return { selection: { kind: 'frames', frames, keyframes: true }, units: frames.length };
  }
  if (spec.mode === 'dhash') {
    const samples = dhashSamples(index, video.startTime, spec, clip);
    return { selection: { kind: 'dhash', samples }, units: samples.length };
  }
  const { frames } = sampledFrames(index, video.startTime, video.frameDuration, spec, clip);
  return { selection: { kind: 'frames', frames, keyframes: false }, units: frames.length };
}

// 3. The cap on frames per task (dhash: samples; sprites: tiles), over every source and spec. Answers the total.

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

// 4. Extraction: the frames chosen (dhash: selected from hashes first), then what each kind of spec makes of them.

/**
 * The frames to extract for a plan. dhash: 1. hash every sample from a 9×8 grey thumbnail the engine
 * makes: no full frame is rendered while the selection is open; 2. select in time order.
 */
async function chooseFrames(step: Step, plan: Plan): Promise<Chosen> {
  const { selection } = plan;
  if (selection.kind === 'cover') {
    return { index: { pts: [plan.opened.source.video.startTime], key: [true] }, frames: [0], keyframesOnly: false, counted: true };
  }
  const index = plan.opened.source.index!;
  if (selection.kind === 'frames') return { index, frames: selection.frames, keyframesOnly: selection.keyframes, counted: true };
  const hashes: bigint[] = new Array(selection.samples.length);
  await extract(step, plan, index, selection.samples, false, HASH_THUMBNAIL, async (position, frame) => {
    hashes[position] = hashOfThumbnail(Buffer.from(frame.data));
    step.advance(1);
  });
  const kept = selectChanged(hashes, plan.spec.threshold, plan.spec.number);
  return { index, frames: kept.map((position) => selection.samples[position]!), keyframesOnly: false, counted: false };
}

/**
 * Extracts the chosen frames and hands output k (0-based position in chosen.frames) its frame, in order;
 * one frame may serve several outputs. Outputs `skip` says are done already are not extracted.
 */
async function extractOutputs(
  step: Step,
  plan: Plan,
  chosen: Chosen,
  skip: (k: number) => boolean,
  onOutput: (k: number, frame: ExtractedFrame) => Promise<void>,
) {
  const outputsOf = new Map<number, number[]>();
  for (const [k, frame] of chosen.frames.entries()) {
    if (skip(k)) {
      if (chosen.counted) step.advance(1);
    } else {
      outputsOf.set(frame, [...(outputsOf.get(frame) ?? []), k]);
    }
  }
  const wanted = [...outputsOf.keys()].sort((a, b) => a - b);
  if (!wanted.length) return;
  await extract(step, plan, chosen.index, wanted, chosen.keyframesOnly, plan.output, async (position, frame) => {
    for (const k of outputsOf.get(wanted[position]!) ?? []) {
      await onOutput(k, frame);
      if (chosen.counted) step.advance(1);
    }
  });
}

/** Snapshots: output k+1 is frame k, encoded by the worker. */
async function writeSnapshots(step: Step, plan: Plan, chosen: Chosen) {
  await extractOutputs(
    step,
    plan,
    chosen,
    (k) => step.run.done.has(targetOf(step, plan, k + 1).uri),
    async (k, frame) => {
      await writeOutput(step, plan, k + 1, bytesOf(frame), { TimeMs: timeMs(plan, frame.pts), Width: frame.width, Height: frame.height });
    },
  );
}

/** Sprites: tile k goes to sheet ⌊k / tiles per sheet⌋ + 1 (kept by its place), written once all its tiles are in. */
async function writeSprites(step: Step, plan: Plan, layout: SheetLayout, chosen: Chosen) {
  const perSheet = tilesPerSheet(layout);
  const count = chosen.frames.length;
  const sheetOf = (k: number) => Math.floor(k / perSheet) + 1;
  const open = new Map<number, { tiles: RgbPicture[]; times: number[]; received: number }>();
  await extractOutputs(
    step,
    plan,
    chosen,
    (k) => step.run.done.has(targetOf(step, plan, sheetOf(k)).uri),
    async (k, frame) => {
      const sheet = sheetOf(k);
      const expected = Math.min(perSheet, count - (sheet - 1) * perSheet);
      const entry = open.get(sheet) ?? { tiles: new Array(expected), times: new Array(expected), received: 0 };
      open.set(sheet, entry);
      entry.tiles[k % perSheet] = { data: bytesOf(frame), width: frame.width, height: frame.height };
      entry.times[k % perSheet] = timeMs(plan, frame.pts);
      if (++entry.received < expected) return;
      open.delete(sheet);
      const body = await composeSheet(entry.tiles, layout, plan.spec.format as SheetFormat, step.deps.quality);
      await writeOutput(step, plan, sheet, body, { TimeMs: entry.times[0]!, ...sizeRecord(sheetSize(layout, expected)), FramesMs: entry.times });
    },
  );
}

/** Animations: every frame (kept by its place), then one file at FrameRate (default 1 / Interval: real time). */
async function writeAnimation(step: Step, plan: Plan, spec: AnimationSpec, chosen: Chosen) {
  const done = step.run.done.has(targetOf(step, plan, 1).uri);
  const frames: RgbPicture[] = new Array(chosen.frames.length);
  const times: number[] = new Array(chosen.frames.length);
  await extractOutputs(
    step,
    plan,
    chosen,
    () => done,
    async (k, frame) => {
      frames[k] = { data: bytesOf(frame), width: frame.width, height: frame.height };
      times[k] = timeMs(plan, frame.pts);
    },
  );
  if (done || !frames.length) return;
  const body = await encodeAnimation(frames, animationFps(spec, plan.opened.source.video.frameDuration), spec.format, step.deps.quality);
  await writeOutput(step, plan, 1, body, { TimeMs: times[0]!, Width: frames[0]!.width, Height: frames[0]!.height, FramesMs: times });
}

/**
 * An animation's output frame rate: FrameRate, else one frame per Interval (real time) — per frame of
 * the video when the Interval is shorter than one (every frame is taken once then).
 */
export const animationFps = (spec: Pick<AnimationSpec, 'frameRate' | 'interval'>, frameDuration: number) =>
  spec.frameRate ?? 1 / Math.max(spec.interval, frameDuration);

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
  // The pool hands frames over as they arrive, without waiting for the last one to be handled: they are
  // handled one after the other, so outputs are written and recorded in order (the worker still runs ahead).
  let handled: Promise<void> = Promise.resolve();
  const report = await deps.capture.extract(
    plan.opened.source,
    { frames: frames.map((i) => index.pts[i]!), keyframes: frames.map((i) => index.pts[keyframeOf(index, i)]!), keyframesOnly, output },
    (frame) => {
      handled = handled.then(() => onFrame(frame.position, frame));
      return handled;
    },
    run.signal,
  );
  deps.onReport?.(report, frames.length);
  deps.log.debug('task frames extracted', { taskId: run.taskId, spec: plan.spec.field, source: plan.opened.spec.field, frames: frames.length, decoded: report.decoded, seeks: report.seeks });
}

function pixels(dimension: Dimension | undefined, size: number): number {
  if (!dimension) return 0;
  return 'pixels' in dimension ? dimension.pixels : Math.max(1, Math.round(dimension.fraction * size));
}

/** Requested output size in pixels (0 = derive), fractions taken of the upright display size. */
export function outputSize(spec: Pick<OutputSpec, 'width' | 'height'>, video: VideoStream): { width: number; height: number } {
  let width = Math.max(1, Math.round(video.width * video.sampleAspect));
  let height = video.height;
  if (video.rotation % 180) [width, height] = [height, width];
  return { width: pixels(spec.width, width), height: pixels(spec.height, height) };
}

/** Most pixels of a sheet, and the layout's own: IMM's 16384 px a side, and MAX_SHEET_PIXELS. */
function sheetFits(layout: SheetLayout, tiles: number, format: SheetFormat): boolean {
  const size = sheetSize(layout, tiles);
  const max = maxSheetSide(format);
  return size.width <= max && size.height <= max && size.width * size.height <= MAX_SHEET_PIXELS;
}

/**
 * A sprite's layout and tile rendering. Tiles are the size ScaleWidth/ScaleHeight ask (IMM's default, 1,
 * is the source's size). Without either, tiles too large for a sheet are shrunk evenly until it fits;
 * an explicit size that cannot fit fails the task, before anything is written.
 */
export function spriteLayout(spec: SpriteSpec, video: VideoStream): { layout: SheetLayout; render: Omit<RenderRequest, 'format'> } {
  const tiles = spec.number > 0 ? Math.min(spec.number, spec.columns * spec.rows) : spec.columns * spec.rows;
  const layoutOf = (render: Omit<RenderRequest, 'format'>): SheetLayout => {
    const tile = planGeometry(video, render).output;
    return { columns: spec.columns, rows: spec.rows, tileWidth: tile.width, tileHeight: tile.height, pad: spec.pad, margin: spec.margin };
  };
  let render: Omit<RenderRequest, 'format'> = { orientation: 'auto', ...outputSize(spec, video), scaleType: spec.scaleType };
  let layout = layoutOf(render);
  const format = spec.format;
  if (!sheetFits(layout, tiles, format) && !spec.width && !spec.height) {
    const full = { width: layout.tileWidth, height: layout.tileHeight };
    const rows = Math.min(spec.rows, Math.ceil(tiles / spec.columns));
    const max = maxSheetSide(format);
    const room = (count: number) => (max - 2 * spec.margin - (count - 1) * spec.pad) / count;
    let scale = Math.min(1, room(spec.columns) / full.width, room(rows) / full.height);
    for (let tries = 0; tries < 200 && scale > 0; tries++, scale *= 0.99) {
      render = { orientation: 'auto', width: Math.max(1, Math.floor(full.width * scale)), height: Math.max(1, Math.floor(full.height * scale)), scaleType: 'stretch' };
      layout = layoutOf(render);
      if (sheetFits(layout, tiles, format)) break;
    }
  }
  if (!sheetFits(layout, tiles, format)) {
    const size = sheetSize(layout, tiles);
    throw errors.invalidArgument(
      `${spec.field}: a sheet of ${spec.columns}x${spec.rows} tiles of ${layout.tileWidth}x${layout.tileHeight} px would be ${size.width}x${size.height} px, above the limit of ${maxSheetSide(format)} px a side and ${MAX_SHEET_PIXELS / 1e6} megapixels: lower ScaleWidth/ScaleHeight, TileWidth/TileHeight, Pad or Margin.`,
    );
  }
  return { layout, render };
}

// 5. Outputs.

const bytesOf = (frame: ExtractedFrame) => Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
const timeMs = (plan: Plan, pts: number) => Math.max(0, Math.round((pts - plan.opened.source.video.startTime) * 1000));
const sizeRecord = (size: { width: number; height: number }) => ({ Width: size.width, Height: size.height });

/** Output `outputIndex` (1-based) of a plan: its object, from the spec's URI template. */
function targetOf(step: Step, plan: Plan, outputIndex: number) {
  const { request } = step.run;
  return outputUri(plan.spec, plan.opened.spec, { index: outputIndex, createdAt: request.createdAt, sourceModified: plan.opened.source.stat.lastModified, tags: request.tags });
}

/** Which spec an output record names, by kind. */
function specRecord(plan: Plan): Pick<OutputRecord, 'SnapshotIndex' | 'SpriteIndex' | 'AnimationIndex'> {
  if (plan.spec.kind === 'snapshot') return { SnapshotIndex: plan.specIndex };
  if (plan.spec.kind === 'sprite') return { SpriteIndex: plan.specIndex };
  return { AnimationIndex: plan.specIndex };
}

/** Writes one output (unless an earlier run recorded it) and records it. */
async function writeOutput(step: Step, plan: Plan, outputIndex: number, body: Buffer, fields: Pick<OutputRecord, 'TimeMs' | 'Width' | 'Height' | 'FramesMs'>) {
  const { deps, run } = step;
  const target = targetOf(step, plan, outputIndex);
  if (run.done.has(target.uri)) return;
  // The store writes beside the target and renames: the object appears whole or not at all.
  await deps.outputStore.write(target.bucket, target.key, body, OUTPUT_TYPES[plan.spec.format]);
  await run.onOutput({
    URI: target.uri,
    Index: outputIndex,
    SourceIndex: plan.opened.sourceIndex,
    ...specRecord(plan),
    TimeMs: fields.TimeMs,
    Width: fields.Width,
    Height: fields.Height,
    Size: body.length,
    ...(fields.FramesMs && { FramesMs: fields.FramesMs }),
  });
}

const OUTPUT_TYPES: Record<OutputSpec['format'], string> = { ...CONTENT_TYPES, gif: 'image/gif' };
