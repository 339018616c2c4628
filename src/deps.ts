// Wires adapters and core from config: the one place that knows which implementation backs each port.
import { readFileSync } from 'node:fs';
import { createCaches, type Caches } from './cache/caches.js';
import type { Config } from './config.js';
import { createCapture, type Capture } from './core/capture.js';
import { createLimiter, type Limiter } from './core/limiter.js';
import { createMetrics, LATENCY_BUCKETS, type Metrics } from './core/metrics.js';
import { createLogger, type Logger } from './log.js';
import { resolveBinaries, type Binaries } from './media/binaries.js';
import { createBlockCache } from './media/block-cache.js';
import { createMediaEndpoint, routeMedia, type MediaEndpoint } from './media/media-endpoint.js';
import { createFfmpegRunner, type FfmpegRunner } from './media/runner.js';
import { openStore, outputStoreOf, rangeFetcher } from './source/open-store.js';
import { createStatCache, type StatCache } from './source/stat-cache.js';
import type { ObjectStore } from './source/store.js';
import { timeFetch, timeStore } from './source/timed-store.js';
import { createRedisTaskService } from './tasks/redis-service.js';
import { createTaskService, type TaskService, type TaskServiceDeps } from './tasks/service.js';

export interface Deps {
  config: Config;
  version: string;
  log: Logger;
  metrics: Metrics;
  store: ObjectStore;
  /** Source stats for snapshot requests, trusted for STILLFRAME_SOURCE_REVALIDATE_MS. */
  stats: StatCache;
  /**
   * Where outputs (IMM task results) are written: STILLFRAME_OUTPUT_STORAGE, else `store` when writable;
   * with a read-only store and no output storage, `readOnly` is true and write() fails with a clear 400.
   */
  outputStore: ObjectStore;
  /** The loopback endpoint ffmpeg reads remote objects and HLS playlists through. */
  media: MediaEndpoint;
  runner: FfmpegRunner;
  caches: Caches;
  limiter: Limiter;
  capture: Capture;
  /** IMM tasks: projects, the durable task journal, the runner. */
  tasks: TaskService;
  isDraining: () => boolean;
  setDraining: () => void;
}

export interface DepsOverrides {
  log?: Logger;
  binaries?: Binaries;
  store?: ObjectStore;
  outputStore?: ObjectStore;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const binaries = overrides.binaries ?? resolveBinaries({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
  const storageSeconds = metrics.histogram('stillframe_storage_seconds', 'Storage adapter latency by operation (stat, read = until the stream is returned, write, block = a whole ranged block read for ffmpeg) and outcome', LATENCY_BUCKETS, ['op', 'outcome']);
  const baseStore = timeStore(overrides.store ?? (await openStore(config.storage, config)), storageSeconds);
  const originReads = metrics.counter('stillframe_origin_reads_total', 'Ranged reads from the storage origin for ffmpeg (block cache misses)', []);
  const originBytes = metrics.counter('stillframe_origin_read_bytes_total', 'Bytes read from the storage origin for ffmpeg', []);
  const blocks = createBlockCache({
    blockSize: config.origin.blockSize,
    maxBytes: config.origin.blockCacheBytes,
    fetch: timeFetch(rangeFetcher(baseStore), storageSeconds),
    onFetch: (bytes) => {
      originReads.inc();
      originBytes.inc({}, bytes);
    },
  });
  metrics.gauge('stillframe_block_cache_bytes', 'Bytes held by the origin block cache', () => blocks.size);
  const media = createMediaEndpoint({ store: baseStore, cache: blocks, log });
  const cacheLookups = metrics.counter('stillframe_cache_lookups_total', 'Result, probe and source-stat cache lookups by cache and outcome', ['cache', 'result']);
  const stats = createStatCache(routeMedia(baseStore, media), {
    ttlMs: config.cache.sourceRevalidateMs,
    onLookup: (hit) => cacheLookups.inc({ cache: 'stat', result: hit ? 'hit' : 'miss' }),
  });
  // Writes through the server (PUT, task outputs) forget the written object's stat.
  const store = stats.store;
  const otherOutput = overrides.outputStore ?? (config.outputStorage ? await openStore(config.outputStorage, config) : undefined);
  const outputStore = outputStoreOf(store, otherOutput && timeStore(otherOutput, storageSeconds));
  const spawns = metrics.counter('stillframe_ffmpeg_spawns_total', 'ffmpeg and ffprobe processes started', ['tool']);
  const runs = metrics.histogram('stillframe_ffmpeg_run_seconds', 'ffmpeg and ffprobe run time by tool and outcome', [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  ], ['tool', 'outcome']);
  const runner = media.wrapRunner(createFfmpegRunner({
    binaries,
    timeoutMs: config.ffmpeg.timeoutMs,
    decodeThreads: config.ffmpeg.threads,
    maxOutputBytes: config.limits.maxOutputBytes,
    onSpawn: (tool) => spawns.inc({ tool }),
    onRun: (tool, ms, ok) => runs.observe(ms / 1000, { tool, outcome: ok ? 'ok' : 'error' }),
  }));
  const caches = createCaches({ imageBytes: config.cache.imageBytes, probeEntries: config.cache.probeEntries });
  const limiter = createLimiter({
    concurrency: config.ffmpeg.maxConcurrent,
    queueLength: config.ffmpeg.queueLength,
    queueTimeoutMs: config.ffmpeg.queueTimeoutMs,
  });
  metrics.gauge('stillframe_captures_active', 'Captures holding an ffmpeg slot', () => limiter.active);
  metrics.gauge('stillframe_captures_queued', 'Captures waiting for an ffmpeg slot', () => limiter.queued);
  metrics.gauge('stillframe_image_cache_bytes', 'Bytes held by the result cache', () => caches.images.calculatedSize);
  const capture = createCapture({
    store,
    runner,
    caches,
    limiter,
    metrics,
    limits: { ...config.limits },
    quality: config.quality,
  });
  const taskDeps: TaskServiceDeps = {
    store,
    capture,
    runner,
    limiter,
    metrics,
    log,
    quality: config.quality,
    limits: { maxOutputDimension: config.limits.maxOutputDimension, maxFramesPerTask: config.tasks.maxFramesPerTask },
    stateDir: config.tasks.stateDir,
    concurrency: config.tasks.concurrency,
    retentionDays: config.tasks.retentionDays,
    ffmpegTimeoutMs: config.tasks.ffmpegTimeoutMs,
    strategy: config.tasks.strategy,
    webhooks: config.webhooks,
    onFfmpegSpawn: () => spawns.inc({ tool: 'ffmpeg' }),
  };
  // Scale-out: with a Redis URL, records and the queue are shared by every node (README "Scale-out").
  const { scale } = config;
  const tasks = scale.redisUrl
    ? await createRedisTaskService(taskDeps, { url: scale.redisUrl, role: scale.role, lockMs: scale.lockMs, prefix: scale.redisPrefix })
    : await createTaskService(taskDeps);
  // The spec's sample requests name this project: with sample media on, they work as written.
  if (config.demoMedia) await tasks.ensureProject('test-project', 'Sample project for the IMM frame-capture examples');
  let draining = false;
  return {
    config,
    version: VERSION,
    log,
    metrics,
    store,
    stats,
    outputStore,
    media,
    runner,
    caches,
    limiter,
    capture,
    tasks,
    isDraining: () => draining,
    setDraining: () => {
      draining = true;
      // Queued tasks stay journaled and run after the restart.
      tasks.pause();
    },
  };
}
