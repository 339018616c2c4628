// THE use case: take a frame out of a stored media object and encode it. The URL API calls snapshot();
// the task runner builds on openSource()/frameAt() and the same renderFrame(), so both paths share
// probing, limits, seeking and encoding.
import type { CachedImage, Caches } from '../cache/caches.js';
import { errors } from '../errors.js';
import { objectVersionKey } from '../cache/caches.js';
import { CONTENT_TYPES, renderFrame, type RenderOptions } from '../image/render.js';
import { decodeFrame, type DecodedFrame, type FrameWindow, type RawFrame } from '../media/decode.js';
import type { MediaInput } from '../media/input.js';
import { directWindow, scanWindow, type SeekMode } from '../media/locate.js';
import { probeMedia, requireVideo, type MediaInfo, type ProbeLimits, type VideoStream } from '../media/probe.js';
import type { FfmpegRunner } from '../media/runner.js';
import { canonicalSnapshot, type SnapshotPlan } from '../process/snapshot.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import type { Limiter } from './limiter.js';
import type { Metrics } from './metrics.js';
import { createSingleFlight } from './single-flight.js';

export interface OpenSource {
  bucket: string;
  key: string;
  stat: ObjectStat;
  input: MediaInput;
  info: MediaInfo;
  video: VideoStream;
}

export interface CapturedFrame {
  frame: RawFrame;
  /** Presentation time of the frame returned, in ms from the stream's first frame. */
  frameTimeMs: number;
  keyframe: boolean;
}

export interface Timings {
  probe: number;
  decode: number;
  encode: number;
}

export interface SnapshotResult extends CachedImage {
  cacheHit: boolean;
  timings: Timings;
}

export interface CaptureDeps {
  store: ObjectStore;
  runner: FfmpegRunner;
  caches: Caches;
  limiter: Limiter;
  metrics: Metrics;
  limits: ProbeLimits & { maxSourceBytes: number };
  quality: RenderOptions['quality'];
}

export interface Capture {
  openSource(bucket: string, key: string, stat: ObjectStat, signal?: AbortSignal): Promise<OpenSource>;
  frameAt(source: OpenSource, timeMs: number, seek: SeekMode, signal?: AbortSignal): Promise<CapturedFrame>;
  snapshot(bucket: string, key: string, stat: ObjectStat, plan: SnapshotPlan, signal?: AbortSignal): Promise<SnapshotResult>;
}

export function createCapture(deps: CaptureDeps): Capture {
  const { store, runner, caches, limiter, metrics } = deps;
  const probeFlights = createSingleFlight<MediaInfo>();
  const imageFlights = createSingleFlight<CachedImage & { timings: Timings }>();
  const cacheLookups = metrics.counter('stillframe_cache_lookups_total', 'Result and probe cache lookups by cache and outcome');

  async function openSource(bucket: string, key: string, stat: ObjectStat, signal?: AbortSignal): Promise<OpenSource> {
    if (stat.size > deps.limits.maxSourceBytes) {
      throw errors.limitExceeded(`The object is ${stat.size} bytes, above the limit of ${deps.limits.maxSourceBytes} bytes.`);
    }
    const input = await store.mediaInput(bucket, key, stat);
    const versionKey = objectVersionKey(bucket, key, stat.etag);
    let info = caches.probes.get(versionKey);
    cacheLookups.inc({ cache: 'probe', result: info ? 'hit' : 'miss' });
    if (!info) {
      info = await probeFlights.run(versionKey, (s) => probeMedia(runner, input, s), signal);
      caches.probes.set(versionKey, info);
    }
    return { bucket, key, stat, input, info, video: requireVideo(info, deps.limits) };
  }

  async function frameAt(source: OpenSource, timeMs: number, seek: SeekMode, signal?: AbortSignal): Promise<CapturedFrame> {
    const { input, info, video } = source;
    const decode = (window: FrameWindow | undefined) => decodeFrame(runner, input, info, video, window, signal);
    let frame: DecodedFrame | undefined;
    if (video.isCoverArt) {
      // A cover picture is a single still: there is nothing to seek.
      frame = await decode(undefined);
    } else {
      const direct = directWindow(info, video, timeMs, seek);
      frame = direct && (await decode(direct));
      frame ??= await decode(await scanWindow(runner, input, video, timeMs, seek, signal));
    }
    if (!frame) throw errors.notMedia('The video stream has no decodable frame at that time.');
    return {
      frame,
      frameTimeMs: video.isCoverArt ? 0 : Math.max(0, Math.round((frame.pts - video.startTime) * 1000)),
      keyframe: video.isCoverArt || frame.isKeyframe,
    };
  }

  async function produce(bucket: string, key: string, stat: ObjectStat, plan: SnapshotPlan, signal: AbortSignal) {
    const t0 = performance.now();
    const source = await openSource(bucket, key, stat, signal);
    const t1 = performance.now();
    const captured = await frameAt(source, plan.timeMs, plan.seek, signal);
    const t2 = performance.now();
    const body = await renderFrame(captured.frame, {
      format: plan.format,
      orientation: plan.orientation,
      rotation: source.video.rotation,
      sampleAspect: source.video.sampleAspect,
      width: plan.width,
      height: plan.height,
      scaleType: 'stretch',
      quality: deps.quality,
    });
    const t3 = performance.now();
    return {
      body,
      contentType: CONTENT_TYPES[plan.format],
      frameTimeMs: captured.frameTimeMs,
      keyframe: captured.keyframe,
      timings: { probe: t1 - t0, decode: t2 - t1, encode: t3 - t2 },
    };
  }

  return {
    openSource,
    frameAt,
    async snapshot(bucket, key, stat, plan, signal) {
      const cacheKey = `${objectVersionKey(bucket, key, stat.etag)}\u0000${canonicalSnapshot(plan)}`;
      const cached = caches.images.get(cacheKey);
      cacheLookups.inc({ cache: 'image', result: cached ? 'hit' : 'miss' });
      if (cached) return { ...cached, cacheHit: true, timings: { probe: 0, decode: 0, encode: 0 } };
      const made = await imageFlights.run(
        cacheKey,
        (flightSignal) => limiter.run(() => produce(bucket, key, stat, plan, flightSignal), flightSignal),
        signal,
      );
      const { timings, ...image } = made;
      caches.images.set(cacheKey, image);
      return { ...image, cacheHit: false, timings };
    },
  };
}
