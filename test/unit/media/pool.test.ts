// The pool's guards against a worker that misbehaves without crashing (src/media/pool.ts): one that never
// says it is ready is killed and replaced after the start timeout; one that is idle yet keeps a CPU busy
// is replaced at the next idle check. Stand-in worker processes (test/support/fake-worker.mjs), real fork,
// real /proc CPU accounting.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'vitest';
import { createMetrics } from '../../../src/core/metrics.js';
import { silentLogger } from '../../../src/log.js';
import { createBlockCache } from '../../../src/media/block-cache.js';
import { createWorkerPool, type WorkerPool } from '../../../src/media/pool.js';
import type { WorkerSettings } from '../../../src/media/protocol.js';
import type { ObjectStore } from '../../../src/source/store.js';
import { waitFor } from '../../support/wait.js';

const FAKE = fileURLToPath(new URL('../../support/fake-worker.mjs', import.meta.url));
const noStore = {} as ObjectStore;
let pool: WorkerPool | undefined;
afterEach(() => pool?.close());

function start(mode: 'never-ready' | 'spin', timing: { startTimeoutMs?: number; spinCheckMs?: number }) {
  const metrics = createMetrics({ defaults: false });
  pool = createWorkerPool({
    size: 1,
    // The worker's settings (argv[2], JSON): the stand-in reads its mode there.
    settings: mode as unknown as WorkerSettings,
    store: noStore,
    blocks: createBlockCache({ blockSize: 1024, maxBytes: 1024, fetch: async () => Buffer.alloc(0) }),
    maxMemoryBytes: 2 ** 30,
    log: silentLogger,
    metrics,
    testing: { entry: { path: FAKE, execArgv: [] }, ...timing },
  });
  const restarts = async (reason: string) => {
    const text = await metrics.registry.metrics();
    return Number(new RegExp(`stillframe_worker_restarts_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  return { restarts };
}

describe('worker pool guards', () => {
  it('a worker that never says it is ready is killed and replaced after the start timeout', async () => {
    const { restarts } = start('never-ready', { startTimeoutMs: 600 });
    await waitFor(async () => (await restarts('start')) >= 2, 10_000);
  }, 20_000);

  it('an idle worker that keeps a CPU busy is replaced at the next idle check', async () => {
    const { restarts } = start('spin', { spinCheckMs: 1000 });
    await waitFor(async () => (await restarts('spinning')) >= 1, 10_000);
  }, 20_000);
});
