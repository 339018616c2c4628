// Wires adapters and core from config: the one place that knows which implementation backs each port.
import { readFileSync } from 'node:fs';
import { createCaches, type Caches } from './cache/caches.js';
import type { Config } from './config.js';
import { createCapture, type Capture } from './core/capture.js';
import { createLimiter, type Limiter } from './core/limiter.js';
import { createMetrics, LATENCY_BUCKETS, type Metrics } from './core/metrics.js';
import type { ImageLimits } from './image/actions.js';
import { createLogger, type Logger } from './log.js';
import { createBlockCache } from './media/block-cache.js';
import { createMemoryNonceStore, createRedisNonceStore, type NonceStore } from './http/nonce-store.js';
import { createWorkerPool, type WorkerPool } from './media/pool.js';
import { openStore, outputStoreOf, rangeFetcher } from './source/open-store.js';
import { createStatCache, type StatCache } from './source/stat-cache.js';
import type { ObjectStore } from './source/store.js';
import { timeFetch, timeStore } from './source/timed-store.js';
import { createJournalBackend } from './tasks/journal-backend.js';
import { createRedisBackend } from './tasks/redis-backend.js';
import { createTaskService, type TaskService } from './tasks/service.js';
import { createFileStyleStore, createRedisStyleStore, type StyleStore } from './styles/store.js';

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
  /** The capture workers (FFmpeg through node-av, in child processes). */
  pool: WorkerPool;
  caches: Caches;
  limiter: Limiter;
  capture: Capture;
  /** IMM tasks: projects, the durable task journal, the runner. */
  tasks: TaskService;
  /** Signed RPC requests' nonces: in process, or in Redis shared by the fleet (STILLFRAME_REDIS_URL). */
  nonces: NonceStore;
  /** Image styles per bucket: a JSON file per bucket in the state directory, or Redis hashes (STILLFRAME_REDIS_URL). */
  styles: StyleStore;
  isDraining: () => boolean;
  setDraining: () => void;
  /** Stops the task service, the nonce and style stores and the workers (after draining). */
  close(): Promise<void>;
}

export interface DepsOverrides {
  log?: Logger;
  store?: ObjectStore;
  outputStore?: ObjectStore;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** OSS's image limits, with the pixel counts from the settings (the sides are OSS's). */
function imageLimitsOf(config: Config): ImageLimits {
  return { maxSourceSide: 30_000, maxSourcePixels: config.limits.maxImagePixels, maxOutputSide: 16_384, maxOutputPixels: config.limits.maxImageOutputPixels };
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const storageSeconds = metrics.histogram('stillframe_storage_seconds', 'Storage adapter latency by operation (stat, read = until the stream is returned, write, block = a whole ranged block read for the engine) and outcome', LATENCY_BUCKETS, ['op', 'outcome']);
  const baseStore = timeStore(overrides.store ?? (await openStore(config.storage, config)), storageSeconds);
  const cacheLookups = metrics.counter('stillframe_cache_lookups_total', 'Result and source-stat cache lookups by cache and outcome', ['cache', 'result']);
  const stats = createStatCache(baseStore, {
    ttlMs: config.cache.sourceRevalidateMs,
    onLookup: (hit) => cacheLookups.inc({ cache: 'stat', result: hit ? 'hit' : 'miss' }),
  });
  // Writes through the server (PUT, task outputs) forget the written object's stat.
  const store = stats.store;
  const originReads = metrics.counter('stillframe_origin_reads_total', 'Ranged reads from the storage origin for the engine (block cache misses)', []);
  const originBytes = metrics.counter('stillframe_origin_read_bytes_total', 'Bytes read from the storage origin for the engine', []);
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
  const otherOutput = overrides.outputStore ?? (config.outputStorage ? await openStore(config.outputStorage, config) : undefined);
  const outputStore = outputStoreOf(store, otherOutput && timeStore(otherOutput, storageSeconds));
  const { engine } = config;
  const pool = createWorkerPool({
    size: engine.workers,
    settings: {
      decodeThreads: engine.threads,
      maxSourcePixels: config.limits.maxSourcePixels,
      maxSourceDurationSeconds: config.limits.maxSourceDurationSeconds,
      quality: config.quality,
      imageLimits: imageLimitsOf(config),
      tonemap: engine.tonemap,
      openSources: engine.openSources,
      // Half the ceiling: open sources are a cache, the other half is for the job at hand.
      openSourcesBytes: engine.maxMemoryBytes / 2,
    },
    store,
    blocks,
    maxMemoryBytes: engine.maxMemoryBytes,
    log,
    metrics,
  });
  const caches = createCaches({ imageBytes: config.cache.imageBytes });
  // One slot per worker: the limiter's queue (bounded, with a deadline) is where load waits or is shed.
  const limiter = createLimiter({ concurrency: pool.size, queueLength: engine.queueLength, queueTimeoutMs: engine.queueTimeoutMs });
  metrics.gauge('stillframe_captures_active', 'Captures holding a worker', () => limiter.active);
  metrics.gauge('stillframe_captures_queued', 'Captures waiting for a worker', () => limiter.queued);
  metrics.gauge('stillframe_image_cache_bytes', 'Bytes held by the result cache', () => caches.images.calculatedSize);
  const capture = createCapture({
    store,
    blocks,
    pool,
    caches,
    limiter,
    metrics,
    limits: { maxSourceBytes: config.limits.maxSourceBytes, maxImageBytes: config.limits.maxImageBytes },
    timeoutMs: { snapshot: engine.timeoutMs, task: config.tasks.timeoutMs },
    quality: config.quality,
  });
  // Scale-out: with a Redis URL, records and the queue are shared by every node (docs/scale-out.md).
  const { scale } = config;
  const { stateDir, concurrency, retentionDays } = config.tasks;
  const taskBackend = scale.redisUrl
    ? await createRedisBackend({ url: scale.redisUrl, role: scale.role, lockMs: scale.lockMs, prefix: scale.redisPrefix, concurrency, retentionDays, log })
    : await createJournalBackend({ dir: stateDir, concurrency, retentionDays, log });
  const tasks = await createTaskService(
    {
      store,
      outputStore,
      capture,
      metrics,
      log,
      limits: { maxOutputDimension: config.limits.maxOutputDimension, maxFramesPerTask: config.tasks.maxFramesPerTask },
      quality: config.quality,
      webhooks: config.webhooks,
    },
    taskBackend,
  );
  // A captured signed request must not replay on another node: nonces go where the tasks are shared.
  const nonces = scale.redisUrl ? createRedisNonceStore({ url: scale.redisUrl, prefix: scale.redisPrefix, log }) : createMemoryNonceStore();
  // Styles live where the tasks do: the state directory (locked to this process), or Redis for the fleet.
  const styles = scale.redisUrl ? createRedisStyleStore({ url: scale.redisUrl, prefix: scale.redisPrefix, log }) : createFileStyleStore({ dir: stateDir });
  // The spec's sample requests name this project: with sample media on, they work as written.
  if (config.demoMedia) await tasks.ensureProject('test-project', 'Sample project for the IMM frame-capture examples');
  await pool.ready;
  let draining = false;
  return {
    config,
    version: VERSION,
    log,
    metrics,
    store,
    stats,
    outputStore,
    pool,
    caches,
    limiter,
    capture,
    tasks,
    nonces,
    styles,
    isDraining: () => draining,
    setDraining: () => {
      draining = true;
      // Queued tasks stay journaled and run after the restart.
      tasks.pause();
    },
    async close() {
      await tasks.close();
      await nonces.close();
      await styles.close();
      await pool.close();
    },
  };
}
