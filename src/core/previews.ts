// The on-the-fly previews (src/process/preview-process.ts, docs/previews.md) made from a source: which
// frames each asks for (the task planner's own arithmetic, src/tasks/frame-plan.ts), decoded as packed RGB
// in one worker walk (ExtractOutput `pixels`) and assembled here (src/image/sheets.ts). A storyboard only
// needs the frame list: its result is the timeline (JSON), rendered per request as WebVTT or JSON by the
// route, which knows the URLs. Called by the capture core inside its result cache, single-flight and the
// limiter's interactive lane.
import { errors } from '../errors.js';
import { planGeometry, type GeometryRequest } from '../image/geometry.js';
import { composeSheet, encodeAnimation, tilesPerSheet, type SheetLayout } from '../image/sheets.js';
import type { RgbPicture } from '../image/render.js';
import type { ExtractJob, ExtractResult, ExtractedFrame, FrameIndex } from '../media/protocol.js';
import { checkSheetSize, PREVIEW_BOUNDS, type PreviewPlan, type SheetSpec, type StoryboardTimeline } from '../process/preview-process.js';
import type { SnapshotMode } from '../process/imm-request.js';
import { dhashSamples, framesAtTimes, keyframeOf, keyframesIn, sampledFrames, videoEndOf, type SamplingSpec } from '../tasks/frame-plan.js';
import { HASH_THUMBNAIL, hashOfThumbnail, selectChanged } from '../tasks/dhash.js';
import type { IndexedSource, Timings } from './capture.js';
import type { Quality } from '../image/render.js';

export interface PreviewContext {
  /** The source, probed and indexed. */
  source(): Promise<IndexedSource>;
  extract(source: IndexedSource, job: Omit<ExtractJob, 'kind' | 'source'>, onFrame: (frame: ExtractedFrame) => Promise<void>): Promise<ExtractResult>;
  quality: Quality;
}

export interface PreviewResult {
  body: Buffer;
  contentType: string;
  timings: Timings;
}

const SLACK = 1e-6;
const MODE: Record<SheetSpec['sampling']['mode'], SnapshotMode> = { inter: 'interval', key: 'keyframe', avg: 'average', dhash: 'dhash' };
const ACTION = { sprite: 'video/sprite', storyboard: 'video/storyboard', animation: 'video/animation' } as const;

interface Timeline {
  index: FrameIndex;
  /** Frame (index into `index`) of each tile, and its start time (s from the stream's first frame). */
  frames: number[];
  starts: number[];
  duration: number;
}

function indexOf(source: IndexedSource, action: string): FrameIndex {
  if (!source.index || source.video.isCoverArt) throw errors.invalidArgument(`${action} needs a video: the object has a still picture only.`);
  return source.index;
}

function checkStart(startMs: number, duration: number, action: string) {
  if (startMs / 1000 >= duration - SLACK) {
    throw errors.invalidArgument(`${action}: ss_${startMs} is at or past the end of the video (${(duration * 1000).toFixed(0)} ms).`);
  }
}

/** Every tile of a sheet spec over the whole video: its frame and start time (dhash: hashes decoded first). */
async function tilesOf(ctx: PreviewContext, source: IndexedSource, spec: SheetSpec, action: string): Promise<Timeline> {
  const index = indexOf(source, action);
  const { video } = source;
  const duration = videoEndOf(index, video.startTime, video.frameDuration);
  const { sampling } = spec;
  checkStart(sampling.startMs, duration, action);
  const clip = { start: 0, end: duration };
  const sample: SamplingSpec = { field: action, startTime: sampling.startMs / 1000, interval: sampling.intervalMs / 1000, number: sampling.number, mode: MODE[sampling.mode] };
  // Frames chosen by what they show start at their own time.
  const startsOf = (frames: number[]) => frames.map((i) => Math.max(0, index.pts[i]! - video.startTime));
  if (sampling.mode === 'key') {
    const frames = keyframesIn(index, video.startTime, sample, clip);
    if (frames.length === 0) throw errors.invalidArgument(`${action}: the video has no key frame at or after ss_${sampling.startMs}.`);
    return { index, frames, starts: startsOf(frames), duration };
  }
  if (sampling.mode === 'dhash') {
    const samples = dhashSamples(index, video.startTime, sample, clip);
    if (samples.length > PREVIEW_BOUNDS.maxDhashSamples) {
      throw errors.invalidArgument(`${action}: m_dhash would sample ${samples.length} frames, above ${PREVIEW_BOUNDS.maxDhashSamples}: set a larger inter or a later ss.`);
    }
    const kept = selectChanged(await hashesOf(ctx, source, index, samples), sampling.threshold, sampling.number);
    const frames = kept.map((position) => samples[position]!);
    return { index, frames, starts: startsOf(frames), duration };
  }
  const { frames, times } = sampledFrames(index, video.startTime, video.frameDuration, sample, clip);
  return { index, frames, starts: times, duration };
}

/** The dhash of each sample (src/tasks/dhash.ts), from a 9×8 grey thumbnail the engine makes, as a task hashes them. */
async function hashesOf(ctx: PreviewContext, source: IndexedSource, index: FrameIndex, samples: number[]): Promise<bigint[]> {
  const hashes: bigint[] = new Array(samples.length);
  await ctx.extract(
    source,
    { frames: samples.map((i) => index.pts[i]!), keyframes: samples.map((i) => index.pts[keyframeOf(index, i)]!), keyframesOnly: false, output: HASH_THUMBNAIL },
    async (frame) => {
      hashes[frame.position] = hashOfThumbnail(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength));
    },
  );
  return hashes;
}

const tileRequest = (spec: SheetSpec): GeometryRequest => ({ orientation: 'auto', width: spec.tileWidth, height: spec.tileHeight, scaleType: spec.scaleType });

/** The pictures of `frames` (indices into the index, any order, repeats allowed), decoded in one walk. */
async function picturesOf(ctx: PreviewContext, source: IndexedSource, index: FrameIndex, frames: readonly number[], keyframesOnly: boolean, render: GeometryRequest): Promise<{ pictures: RgbPicture[]; decodeMs: number }> {
  const started = performance.now();
  const wanted = [...new Set(frames)].sort((a, b) => a - b);
  const byFrame = new Map<number, RgbPicture>();
  await ctx.extract(
    source,
    {
      frames: wanted.map((i) => index.pts[i]!),
      keyframes: wanted.map((i) => index.pts[keyframeOf(index, i)]!),
      keyframesOnly,
      output: { kind: 'pixels', render },
    },
    async (frame) => {
      byFrame.set(wanted[frame.position]!, { data: Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), width: frame.width, height: frame.height });
    },
  );
  const pictures = frames.map((i) => {
    const picture = byFrame.get(i);
    if (!picture) throw errors.invalidArgument(`The frame at ${(index.pts[i]! * 1000).toFixed(0)} ms could not be decoded.`);
    return picture;
  });
  return { pictures, decodeMs: performance.now() - started };
}

export async function producePreview(ctx: PreviewContext, plan: PreviewPlan): Promise<PreviewResult> {
  const opened = performance.now();
  const source = await ctx.source();
  const open = performance.now() - opened;
  switch (plan.type) {
    case 'storyboard': {
      const { spec } = plan;
      const selecting = performance.now();
      const tiles = await tilesOf(ctx, source, spec, ACTION.storyboard);
      const selectMs = performance.now() - selecting;
      if (tiles.frames.length > PREVIEW_BOUNDS.maxStoryboardTiles) {
        throw errors.invalidArgument(
          `${ACTION.storyboard} would list ${tiles.frames.length} tiles, above ${PREVIEW_BOUNDS.maxStoryboardTiles}: set num, a larger inter, or m_avg.`,
        );
      }
      const tile = planGeometry(source.video, tileRequest(spec)).output;
      checkSheetSize(spec, tile.width, tile.height);
      const timeline: StoryboardTimeline = { duration: tiles.duration, tileWidth: tile.width, tileHeight: tile.height, starts: tiles.starts };
      return { body: Buffer.from(JSON.stringify(timeline)), contentType: 'application/json', timings: { open, decode: selectMs, encode: 0 } };
    }
    case 'sprite': {
      const { spec } = plan;
      const selecting = performance.now();
      const tiles = await tilesOf(ctx, source, spec, ACTION.sprite);
      const selectMs = performance.now() - selecting;
      const perSheet = spec.columns * spec.rows;
      const sheets = Math.ceil(tiles.frames.length / perSheet);
      if (plan.sheet >= sheets) {
        throw errors.invalidArgument(`${ACTION.sprite}: i_${plan.sheet} is past the last sheet: the ${tiles.frames.length} tiles fill ${sheets} sheet${sheets === 1 ? '' : 's'} (i_0 to i_${sheets - 1}).`);
      }
      const render = tileRequest(spec);
      const tile = planGeometry(source.video, render).output;
      checkSheetSize(spec, tile.width, tile.height);
      const frames = tiles.frames.slice(plan.sheet * perSheet, (plan.sheet + 1) * perSheet);
      const { pictures, decodeMs } = await picturesOf(ctx, source, tiles.index, frames, spec.sampling.mode === 'key', render);
      const encoding = performance.now();
      const layout: SheetLayout = { columns: spec.columns, rows: spec.rows, tileWidth: pictures[0]!.width, tileHeight: pictures[0]!.height, pad: spec.pad, margin: spec.margin };
      if (pictures.length > tilesPerSheet(layout)) throw new Error('more tiles than a sheet holds');
      const body = await composeSheet(pictures, layout, spec.format, ctx.quality);
      const contentType = spec.format === 'jpg' ? 'image/jpeg' : `image/${spec.format}`;
      return { body, contentType, timings: { open, decode: selectMs + decodeMs, encode: performance.now() - encoding } };
    }
    case 'animation': {
      const index = indexOf(source, ACTION.animation);
      const { video } = source;
      const duration = videoEndOf(index, video.startTime, video.frameDuration);
      checkStart(plan.startMs, duration, ACTION.animation);
      const start = plan.startMs / 1000;
      const count = Math.max(1, Math.round((plan.durationMs * plan.fps) / 1000));
      const times: number[] = [];
      // Frame k at ss + k/fps, while inside the video.
      for (let k = 0; k < count; k++) {
        const t = start + k / plan.fps;
        if (t >= duration - SLACK) break;
        times.push(t);
      }
      const frames = framesAtTimes(index, video.startTime, times);
      // Inside w × h with the aspect kept; a side not given is bounded by the 640 px limit alone.
      const side = PREVIEW_BOUNDS.maxAnimationSide;
      const render: GeometryRequest = { orientation: 'auto', width: plan.width || side, height: plan.height || side, scaleType: 'fit' };
      const { pictures, decodeMs } = await picturesOf(ctx, source, index, frames, false, render);
      const encoding = performance.now();
      const body = await encodeAnimation(pictures, plan.fps, plan.format, ctx.quality);
      return { body, contentType: `image/${plan.format}`, timings: { open, decode: decodeMs, encode: performance.now() - encoding } };
    }
  }
}
