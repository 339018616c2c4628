// Wires adapters and core from config: the one place that knows which implementation backs each port.
import { readFileSync } from 'node:fs';
import { createCaches, type Caches } from './cache/caches.js';
import type { Config } from './config.js';
import { createCapture, type Capture } from './core/capture.js';
import { createLimiter, type Limiter } from './core/limiter.js';
import { createMetrics, type Metrics } from './core/metrics.js';
import { createLogger, type Logger } from './log.js';
import { resolveBinaries, type Binaries } from './media/binaries.js';
import { createFfmpegRunner, type FfmpegRunner } from './media/runner.js';
import { createFsStore } from './source/fs-store.js';
import type { ObjectStore } from './source/store.js';

export interface Deps {
  config: Config;
  version: string;
  log: Logger;
  metrics: Metrics;
  store: ObjectStore;
  runner: FfmpegRunner;
  caches: Caches;
  limiter: Limiter;
  capture: Capture;
  isDraining: () => boolean;
  setDraining: () => void;
}

export interface DepsOverrides {
  log?: Logger;
  binaries?: Binaries;
  store?: ObjectStore;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const binaries = overrides.binaries ?? resolveBinaries({ ffmpeg: config.ffmpeg.path, ffprobe: config.ffmpeg.ffprobePath });
  const store = overrides.store ?? (await createFsStore(config.storage.root));
  const spawns = metrics.counter('stillframe_ffmpeg_spawns_total', 'ffmpeg and ffprobe processes started');
  const runs = metrics.histogram('stillframe_ffmpeg_run_seconds', 'ffmpeg and ffprobe run time by tool and outcome', [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  ]);
  const runner = createFfmpegRunner({
    binaries,
    timeoutMs: config.ffmpeg.timeoutMs,
    maxOutputBytes: config.limits.maxOutputBytes,
    onSpawn: (tool) => spawns.inc({ tool }),
    onRun: (tool, ms, ok) => runs.observe(ms / 1000, { tool, outcome: ok ? 'ok' : 'error' }),
  });
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
  let draining = false;
  return {
    config,
    version: VERSION,
    log,
    metrics,
    store,
    runner,
    caches,
    limiter,
    capture,
    isDraining: () => draining,
    setDraining: () => {
      draining = true;
    },
  };
}
