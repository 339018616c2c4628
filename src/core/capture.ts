// THE use case: take a frame — or many — out of a stored media object and encode it, or process a
// stored image. The URL API calls process() (a frame, a frame followed by image actions, or image actions
// on a stored picture); the task runner calls openSource() and extract(). All go through the same limiter
// (two lanes: people waiting on a socket first), the same preparation of the source (local path, block
// cache, HLS), the same capture workers and the same rendering.
import type { CachedImage, Caches } from '../cache/caches.js';
import { objectVersionKey } from '../cache/caches.js';
import { errors } from '../errors.js';
import { CONTENT_TYPES } from '../image/render.js';
import type { BlockCache } from '../media/block-cache.js';
import type { WorkerPool } from '../media/pool.js';
import type { MediaInfo, VideoStream } from '../media/probe.js';
import type { ExtractedFrame, ExtractJob, ExtractResult, FrameIndex, ImagePipeline, SourceRef } from '../media/protocol.js';
import type { ReadTarget } from '../media/reads.js';
import { prepareSource, type PreparedSource } from '../media/sources.js';
import type { ImageAction } from '../process/image-process.js';
import type { PreviewPlan } from '../process/preview-process.js';
import type { SnapshotPlan } from '../process/snapshot.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import type { Lane, Limiter } from './limiter.js';
import type { Metrics } from './metrics.js';
import { producePreview } from './previews.js';
import { createSingleFlight } from './single-flight.js';
import type { Quality } from '../image/render.js';

export interface Timings {
  open: number;
  decode: number;
  encode: number;
}

/**
 * What an `x-oss-process` URL asks for, resolved by the route (style looked up, `format,auto` chosen):
 * a frame (optionally followed by image actions), or image actions on a stored image. `watermarks` are
 * the image watermarks' objects (same bucket), stat'ed by the route: their ETags are part of the answer's.
 */
export type ProcessWork =
  | { kind: 'snapshot'; plan: SnapshotPlan; actions: ImageAction[]; watermarks: ReadonlyMap<string, ObjectStat> }
  | { kind: 'image'; actions: ImageAction[]; watermarks: ReadonlyMap<string, ObjectStat> }
  /** A sprite sheet, an animation, or a storyboard's timeline (JSON the route renders): src/core/previews.ts. */
  | { kind: 'preview'; plan: PreviewPlan };

export interface ProcessResult extends CachedImage {
  cacheHit: boolean;
  timings: Timings;
}

/** A task's source: prepared for the engine, probed and indexed (frame list) in one worker job. */
export interface IndexedSource {
  bucket: string;
  key: string;
  stat: ObjectStat;
  prepared: PreparedSource;
  info: MediaInfo;
  video: VideoStream;
  /** Undefined for a cover picture (audio file). */
  index: FrameIndex | undefined;
}

export interface CaptureDeps {
  store: ObjectStore;
  blocks: BlockCache;
  pool: WorkerPool;
  caches: Caches;
  limiter: Limiter;
  metrics: Metrics;
  /** Largest media source, and largest image (a stored image, or an image watermark). */
  limits: { maxSourceBytes: number; maxImageBytes: number };
  /** Deadline of one snapshot's worker job, and of one task job (index, extract). */
  timeoutMs: { snapshot: number; task: number };
  /** Encoding of the sheets and animations assembled on this side (previews); default 85 / 80. */
  quality: Quality;
}

// Indexed sources the previews reuse: a storyboard and its sheets ask for the same frame list in turn.
const INDEXED_SOURCES = 16;

export interface Capture {
  /** `canonical` = the process's one spelling (src/process/image-process.ts), with the watermarks' ETags: the cache key. */
  process(bucket: string, key: string, stat: ObjectStat, work: ProcessWork, canonical: string, signal?: AbortSignal): Promise<ProcessResult>;
  /** Tasks: probe and index a source (from `from` s on the container clock when clipped). */
  openSource(bucket: string, key: string, stat: ObjectStat, from: number | undefined, signal: AbortSignal): Promise<IndexedSource>;
  /** Tasks: decode and render the wanted frames, each handed to `onFrame` as it is ready. */
  extract(source: IndexedSource, job: Omit<ExtractJob, 'kind' | 'source'>, onFrame: (frame: ExtractedFrame) => Promise<void>, signal: AbortSignal): Promise<ExtractResult>;
}

export function createCapture(deps: CaptureDeps): Capture {
  const { store, blocks, pool, caches, limiter, metrics } = deps;
  const imageFlights = createSingleFlight<CachedImage & { timings: Timings }>();
  const imageMaxBytes = deps.limits.maxImageBytes;
  const cacheLookups = metrics.counter('stillframe_cache_lookups_total', 'Result and source-stat cache lookups by cache and outcome', ['cache', 'result']);

  async function prepare(bucket: string, key: string, stat: ObjectStat): Promise<PreparedSource> {
    if (stat.size > deps.limits.maxSourceBytes) {
      throw errors.limitExceeded(`The object is ${stat.size} bytes, above the limit of ${deps.limits.maxSourceBytes} bytes.`);
    }
    return prepareSource(store, blocks, bucket, key, stat);
  }

  const targetsOf = (prepared: PreparedSource) => new Map<string, ReadTarget>(prepared.target ? [[prepared.ref.id, prepared.target]] : []);

  async function prepareImage(bucket: string, key: string, stat: ObjectStat): Promise<PreparedSource> {
    if (stat.size > imageMaxBytes) {
      throw errors.limitExceeded(`The image "${key}" is ${stat.size} bytes, above the limit of ${imageMaxBytes} bytes (STILLFRAME_MAX_IMAGE_BYTES).`);
    }
    return prepareSource(store, blocks, bucket, key, stat);
  }

  /** The image actions with their watermark objects prepared; their reads join the job's targets. */
  async function pipelineOf(bucket: string, work: Exclude<ProcessWork, { kind: 'preview' }>, targets: Map<string, ReadTarget>): Promise<ImagePipeline> {
    const watermarks: Record<string, SourceRef> = {};
    for (const [key, stat] of work.watermarks) {
      const prepared = await prepareImage(bucket, key, stat);
      watermarks[key] = prepared.ref;
      if (prepared.target) targets.set(prepared.ref.id, prepared.target);
    }
    return { actions: work.actions, watermarks };
  }

  /** Probe and index a source (no lane of its own: the caller holds one). */
  async function indexSource(bucket: string, key: string, stat: ObjectStat, from: number | undefined, signal: AbortSignal): Promise<IndexedSource> {
    const prepared = await prepare(bucket, key, stat);
    const { info, index } = await pool.run({ kind: 'index', source: prepared.ref, from }, { timeoutMs: deps.timeoutMs.task, signal, targets: targetsOf(prepared) });
    return { bucket, key, stat, prepared, info, video: info.video!, index };
  }

  const extractFrames = (source: IndexedSource, job: Omit<ExtractJob, 'kind' | 'source'>, onFrame: (frame: ExtractedFrame) => Promise<void>, signal: AbortSignal) =>
    pool.run({ kind: 'extract', source: source.prepared.ref, ...job }, { timeoutMs: deps.timeoutMs.task, signal, targets: targetsOf(source.prepared), onFrame });

  // Most recently used last.
  const indexed = new Map<string, IndexedSource>();
  async function previewSource(bucket: string, key: string, stat: ObjectStat, signal: AbortSignal): Promise<IndexedSource> {
    const id = objectVersionKey(bucket, key, stat.etag);
    const known = indexed.get(id);
    if (known) {
      indexed.delete(id);
      indexed.set(id, known);
      return known;
    }
    const source = await indexSource(bucket, key, stat, undefined, signal);
    if (!source.info.video) throw errors.invalidArgument('The object has no video stream.');
    indexed.set(id, source);
    if (indexed.size > INDEXED_SOURCES) indexed.delete(indexed.keys().next().value!);
    return source;
  }

  async function produce(bucket: string, key: string, stat: ObjectStat, work: ProcessWork, signal: AbortSignal) {
    const toBody = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (work.kind === 'preview') {
      const result = await producePreview(
        {
          source: () => previewSource(bucket, key, stat, signal),
          extract: (source, job, onFrame) => extractFrames(source, job, onFrame, signal),
          quality: deps.quality,
        },
        work.plan,
      );
      return { ...result, frame: undefined };
    }
    if (work.kind === 'image') {
      const prepared = await prepareImage(bucket, key, stat);
      const targets = targetsOf(prepared);
      const image = await pipelineOf(bucket, work, targets);
      const result = await pool.run({ kind: 'image', source: prepared.ref, image }, { timeoutMs: deps.timeoutMs.snapshot, signal, targets });
      return { body: toBody(result.body), contentType: result.contentType, frame: undefined, timings: result.timings };
    }
    const { plan } = work;
    const prepared = await prepare(bucket, key, stat);
    const targets = targetsOf(prepared);
    const image = work.actions.length > 0 ? await pipelineOf(bucket, work, targets) : undefined;
    const result = await pool.run(
      {
        kind: 'capture',
        source: prepared.ref,
        timeMs: plan.timeMs,
        timePercent: plan.timePercent,
        seek: plan.seek,
        best: plan.best,
        render: { format: plan.format, orientation: plan.orientation, width: plan.width, height: plan.height, scaleType: 'stretch' },
        image,
      },
      { timeoutMs: deps.timeoutMs.snapshot, signal, targets },
    );
    return {
      body: toBody(result.body),
      contentType: result.contentType ?? CONTENT_TYPES[plan.format],
      frame: { timeMs: result.frameTimeMs, keyframe: result.keyframe },
      timings: result.timings,
    };
  }

  function inLane<T>(lane: Lane, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    return limiter.run(work, signal, lane);
  }

  return {
    async process(bucket, key, stat, work, canonical, signal) {
      const cacheKey = `${objectVersionKey(bucket, key, stat.etag)}\u0000${canonical}`;
      const cached = caches.images.get(cacheKey);
      cacheLookups.inc({ cache: 'image', result: cached ? 'hit' : 'miss' });
      if (cached) return { ...cached, cacheHit: true, timings: { open: 0, decode: 0, encode: 0 } };
      const made = await imageFlights.run(cacheKey, (flightSignal) => inLane('interactive', flightSignal, () => produce(bucket, key, stat, work, flightSignal)), signal);
      const { timings, ...image } = made;
      caches.images.set(cacheKey, image);
      return { ...image, cacheHit: false, timings };
    },

    async openSource(bucket, key, stat, from, signal) {
      return inLane('batch', signal, () => indexSource(bucket, key, stat, from, signal));
    },

    extract(source, job, onFrame, signal) {
      return inLane('batch', signal, () => extractFrames(source, job, onFrame, signal));
    },
  };
}
