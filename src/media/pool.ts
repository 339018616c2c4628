// The capture workers, seen from the server: a fixed number of long-lived child processes
// (src/media/engine/worker.ts), one job each at a time. Decoding never runs on the HTTP event loop, and
// whatever goes wrong inside FFmpeg stays in a worker:
//  - a worker that dies mid-job (killed, out of memory, a crash in native code) has its job answered 502
//    — retried once on another worker when nothing of it was delivered yet — never 400, because the
//    fault is ours, not the URL's; the pool starts a new worker in its place;
//  - a job past its deadline has its worker killed and replaced (504);
//  - a worker whose resident memory passes the ceiling mid-job is killed (the media asked for more
//    than allowed: 400); one that ends a job above 3/4 of it is replaced between jobs;
//  - a job nobody waits for any more (the client hung up) stops reading at once; if it is still running
//    a moment later (a long decode of a local file, which FFmpeg cannot be told to stop), its worker is
//    killed and replaced — cheaper than finishing work nobody wants;
//  - jobs of a source go to the worker that has it open, when that worker is free.
// Workers get a bare environment (no secrets) and read remote bytes only through the server
// (src/media/reads.ts).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Metrics } from '../core/metrics.js';
import { AbortedError, errors } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../source/store.js';
import type { BlockCache } from './block-cache.js';
import type { ExtractedFrame, FromWorker, Job, JobResults, ToWorker, WorkerSettings } from './protocol.js';
import { JobReads, serveReads, type ReadTarget } from './reads.js';

export interface PoolOptions {
  size: number;
  settings: WorkerSettings;
  store: ObjectStore;
  blocks: BlockCache;
  /** Resident memory a worker may use (bytes). */
  maxMemoryBytes: number;
  log: Logger;
  metrics: Metrics;
  /** Tests only: another worker program, and shorter start and idle-CPU checks. */
  testing?: { entry?: { path: string; execArgv: string[] }; startTimeoutMs?: number; spinCheckMs?: number };
}

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** What the job's reads of each source id resolve to (remote objects, HLS). */
  targets?: ReadonlyMap<string, ReadTarget>;
  /** Extract jobs: each frame as it comes; the worker is let run on once the promise settles. */
  onFrame?: (frame: ExtractedFrame) => Promise<void>;
}

export interface WorkerPool {
  run<K extends Job['kind']>(job: Extract<Job, { kind: K }>, options: RunOptions): Promise<JobResults[K]>;
  readonly size: number;
  readonly busy: number;
  /** Resolves when every worker has started once (their versions are then known). */
  readonly ready: Promise<void>;
  /** node, FFmpeg, sharp and libvips versions the workers run. */
  readonly versions: Record<string, string>;
  close(): Promise<void>;
}

/** The worker died under the job: our fault, retried once on another worker when nothing was delivered. */
class WorkerDied extends Error {
  constructor(readonly reason: string) {
    super(`capture worker died: ${reason}`);
  }
}

interface Running {
  id: number;
  job: Job;
  options: RunOptions;
  reads: JobReads;
  delivered: number;
  /** onFrame calls not yet settled: the job is answered only after the last one. */
  pending: Set<Promise<void>>;
  resolve(result: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
  watchdog: NodeJS.Timeout;
  /** Set when the server itself ended the job (deadline, memory): how to answer it once the worker is gone. */
  verdict?: Error;
}

const PAGE = 4096;
// How long a job nobody waits for may go on before its worker is killed: most captures end sooner.
const ABANDON_GRACE_MS = 250;

/**
 * The worker's entry: compiled JS next to this file (a release), or the TypeScript source run through
 * tsx (tests and development, from the project directory, where the tsx dev dependency resolves).
 */
/** The newest modification time of a file under `dir` (ms). */
function newestUnder(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * The worker's entry: the compiled `worker.js` beside this module in a build. From the TypeScript
 * sources (tests, benchmarks), the checkout's own `dist/` worker when it was built after every source
 * file last changed — it starts in less than half the CPU time of `worker.ts` through tsx (0.4 s vs 0.9 s
 * measured; 2.9 s vs 7 s wall on a loaded machine), which matters to a suite that starts hundreds of
 * workers — else `worker.ts` through tsx.
 */
function workerEntry(): { path: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./engine/worker.js', import.meta.url));
  if (existsSync(js)) return { path: js, execArgv: [] };
  const built = fileURLToPath(new URL('../../dist/media/engine/worker.js', import.meta.url));
  const sources = fileURLToPath(new URL('..', import.meta.url));
  if (existsSync(built) && statSync(built).mtimeMs >= newestUnder(sources)) return { path: built, execArgv: [] };
  return { path: fileURLToPath(new URL('./engine/worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };
}

/** CPU time (user + system, seconds) a process has used, from /proc (Linux); undefined where unavailable. */
function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process, from /proc (Linux); undefined where unavailable. */
function residentBytes(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return undefined;
  }
}

// An idle worker should use no CPU. Seen twice on heavily loaded test machines: idle workers (never given
// a job, or between jobs) spinning at 100% CPU for many minutes inside V8's event loop (the garbage
// collector's sweeper rescheduling itself), starving everything else. Not reproduced on demand; the pool
// checks idle workers' CPU time every SPIN_CHECK_MS and replaces one that used more than a quarter of it
// (an idle worker uses none; a quarter still catches one that competes for a core on a loaded machine).
const SPIN_CHECK_MS = 15_000;
const SPIN_SHARE = 0.25;
// How long a job may wait for a worker being replaced (a crash, a deadline): a start takes ~0.3 s, several
// seconds on a loaded machine. The job's own deadline starts when a worker takes it, so a short
// STILLFRAME_DECODE_TIMEOUT_MS does not turn a worker's restart into a 503.
const WORKER_START_WAIT_MS = 10_000;
// A worker that has not said it is ready after this long is killed and replaced (a normal start takes
// 0.3 s, up to ~7 s on a machine loaded twenty times over).
const WORKER_START_TIMEOUT_MS = 15_000;
// The worker's half of that: armed first thing, disarmed by the worker when it says it is ready
// (src/media/engine/worker.ts); exit code 70 is a failed start (the pool starts another).
const START_WATCHDOG = `data:text/javascript,globalThis.stillframeStartWatchdog=setTimeout(()=>process.exit(70),${WORKER_START_TIMEOUT_MS});`;
const CLOCK_TICKS = 100;

export function createWorkerPool(options: PoolOptions): WorkerPool {
  const { log, metrics } = options;
  const entry = options.testing?.entry ?? workerEntry();
  const startTimeoutMs = options.testing?.startTimeoutMs ?? WORKER_START_TIMEOUT_MS;
  const spinCheckMs = options.testing?.spinCheckMs ?? SPIN_CHECK_MS;
  const restarts = metrics.counter('stillframe_worker_restarts_total', 'Capture workers replaced, by reason (crash, timeout, memory, abandoned, recycle, spinning, start)', ['reason']);
  const jobs = metrics.counter('stillframe_worker_jobs_total', 'Capture worker jobs by kind and outcome', ['kind', 'outcome']);
  const jobSeconds = metrics.histogram('stillframe_worker_job_seconds', 'Capture worker job time by kind', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120], ['kind']);
  let nextId = 1;
  let closing = false;
  const versions: Record<string, string> = {};
  const waiting: (() => void)[] = [];

  class Worker {
    child!: ChildProcess;
    state: 'starting' | 'idle' | 'busy' | 'gone' = 'starting';
    running: Running | undefined;
    /** Source ids this worker has open, most recent last (mirrors its LRU). */
    recent: string[] = [];
    lastUsed = 0;
    startedAt = 0;
    /** CPU time at the last idle check, while idle since (undefined: busy or starting in between). */
    idleCpu: number | undefined;
    started!: Promise<void>;
    private failures = 0;

    constructor() {
      this.spawn();
    }

    spawn(): void {
      this.state = 'starting';
      this.startedAt = Date.now();
      this.recent = [];
      const child = fork(entry.path, [JSON.stringify(options.settings)], {
        // Before the worker's own modules load, a timer that ends the process if it is not ready by then:
        // a worker spinning while it loads starves a loaded machine, the server's event loop included, so
        // the server's own start timeout may never get to run.
        execArgv: ['--import', START_WATCHDOG, ...entry.execArgv],
        serialization: 'advanced',
        // stdin, stdout: unused; stderr: piped into our log; fd 3: the read bridge; fd 4: jobs (IPC).
        stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'ipc'],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
          // Decoders' frame pools are large allocations: served by mmap, they go back to the system when a
          // source closes (measured: 17.6 MiB of a closed 720p source kept by glibc's heap, 2.8 MiB with this).
          MALLOC_MMAP_THRESHOLD_: '131072',
        },
      });
      this.child = child;
      serveReads(child.stdio[3] as unknown as import('node:stream').Duplex, options.store, options.blocks, () => this.running?.reads);
      (child.stderr as Readable).setEncoding('utf8');
      (child.stderr as Readable).on('data', (text: string) => log.warn('capture worker stderr', { pid: child.pid, text: text.slice(0, 2000) }));
      // A start that does not finish is given up (the worker killed, another started, with the usual
      // back-off): seen under heavy load, a worker spinning in its event loop while loading its modules.
      const startTimer = setTimeout(() => {
        if (this.child !== child || this.state !== 'starting') return;
        log.warn('a capture worker did not start in time; replacing it', { pid: child.pid, seconds: startTimeoutMs / 1000 });
        restarts.inc({ reason: 'start' });
        child.kill('SIGKILL');
      }, startTimeoutMs);
      startTimer.unref();
      child.once('exit', () => clearTimeout(startTimer));
      this.started = new Promise<void>((resolve) => {
        child.on('message', (message: FromWorker) => {
          if (message.type === 'ready') {
            clearTimeout(startTimer);
            Object.assign(versions, message.versions);
            this.failures = 0;
            this.state = 'idle';
            resolve();
            wake();
            return;
          }
          this.onMessage(message);
        });
        child.once('exit', () => resolve());
      });
      child.on('exit', (code, signal) => this.onExit(code, signal));
      child.on('error', (err) => log.error('capture worker error', { pid: child.pid, err }));
    }

    private onMessage(message: FromWorker): void {
      const running = this.running;
      if (message.type === 'log') {
        log[message.level](message.msg, { ...message.fields, worker: this.child.pid });
        return;
      }
      if (message.type === 'ready' || !running || message.id !== running.id) return;
      if (message.type === 'frame') {
        running.delivered++;
        const onFrame = running.options.onFrame;
        const ack = () => this.send({ type: 'ack', id: running.id, count: 1 });
        if (!onFrame) {
          ack();
          return;
        }
        const handled = onFrame(message.frame).then(ack, (err: unknown) => {
          // The output side failed (a write to the store): cancel the job with that error.
          running.verdict ??= err instanceof Error ? err : new Error(String(err));
          this.send({ type: 'cancel', id: running.id });
        });
        running.pending.add(handled);
        void handled.finally(() => running.pending.delete(handled));
        return;
      }
      this.finish();
      // Frames still being handled (written to the store) belong to the answer: wait for them.
      void Promise.all(running.pending).then(() => {
        if (message.type === 'result') {
          if (running.reads.failure) running.reject(running.reads.failure);
          else if (running.verdict) running.reject(running.verdict);
          else running.resolve(message.result);
        } else {
          running.reject(running.verdict ?? running.reads.failure ?? jobError(message.error));
        }
      });
      jobs.inc({ kind: running.job.kind, outcome: message.type === 'result' ? 'ok' : 'error' });
      if (message.rss > options.maxMemoryBytes * 0.75) this.replace('recycle');
      else this.release();
    }

    private finish(): void {
      const running = this.running;
      if (!running) return;
      clearTimeout(running.timer);
      clearInterval(running.watchdog);
      this.running = undefined;
    }

    private onExit(code: number | null, signal: NodeJS.Signals | null): void {
      const running = this.running;
      this.finish();
      this.state = 'gone';
      if (running) {
        jobs.inc({ kind: running.job.kind, outcome: 'died' });
        running.reject(running.verdict ?? new WorkerDied(signal ?? `exit code ${code}`));
        if (!running.verdict) {
          restarts.inc({ reason: 'crash' });
          log.warn('capture worker died during a job', { pid: this.child.pid, code, signal, job: running.job.kind });
        }
      }
      if (closing) return;
      // A worker that cannot even start (a broken install) is retried with a growing pause, not in a loop.
      const quick = Date.now() - this.startedAt < 2000;
      this.failures = quick ? this.failures + 1 : 0;
      const delay = this.failures > 1 ? Math.min(5000, 100 * 2 ** this.failures) : 0;
      setTimeout(() => {
        if (!closing) this.spawn();
      }, delay).unref();
    }

    send(message: ToWorker): void {
      if (this.child.connected) this.child.send(message);
    }

    /** Kills this worker now (deadline, memory): the job is answered by `verdict`, a new worker starts. */
    kill(reason: 'timeout' | 'memory' | 'abandoned', verdict: Error): void {
      if (this.running) this.running.verdict ??= verdict;
      restarts.inc({ reason });
      this.child.kill('SIGKILL');
    }

    /** Replaces this worker if it has been idle since the last check yet busy on a CPU (see SPIN_CHECK_MS). */
    checkIdle(): void {
      if (this.state !== 'idle') {
        this.idleCpu = undefined;
        return;
      }
      const used = cpuSeconds(this.child.pid!);
      const before = this.idleCpu;
      this.idleCpu = used;
      if (used === undefined || before === undefined || used - before < (spinCheckMs / 1000) * SPIN_SHARE) return;
      log.warn('an idle capture worker was using a CPU; replacing it', { pid: this.child.pid, cpuSeconds: Number((used - before).toFixed(1)), overSeconds: spinCheckMs / 1000 });
      this.idleCpu = undefined;
      this.replace('spinning');
    }

    /** Retires this worker (memory high after a job, or spinning while idle): a fresh one takes its place. */
    replace(reason: 'recycle' | 'spinning'): void {
      restarts.inc({ reason });
      this.state = 'gone';
      this.child.kill('SIGTERM');
    }

    release(): void {
      this.state = 'idle';
      this.lastUsed = Date.now();
      wake();
    }

    execute(job: Job, runOptions: RunOptions): Promise<unknown> {
      const id = nextId++;
      this.state = 'busy';
      this.idleCpu = undefined;
      this.recent = [...this.recent.filter((s) => s !== job.source.id), job.source.id].slice(-Math.max(1, options.settings.openSources));
      return new Promise((resolve, reject) => {
        const running: Running = {
          id,
          job,
          options: runOptions,
          reads: new JobReads(runOptions.targets ?? new Map()),
          delivered: 0,
          pending: new Set(),
          resolve,
          reject,
          timer: setTimeout(() => this.kill('timeout', errors.timeout('Decoding', runOptions.timeoutMs)), runOptions.timeoutMs),
          watchdog: setInterval(() => {
            const rss = residentBytes(this.child.pid!);
            if (rss !== undefined && rss > options.maxMemoryBytes) {
              this.kill('memory', errors.limitExceeded(`Decoding this media needs more than ${Math.round(options.maxMemoryBytes / 2 ** 20)} MB, the limit per capture worker.`));
            }
          }, 200),
        };
        this.running = running;
        this.send({ type: 'job', id, job });
      });
    }

    /** Asks the worker to stop early (its reads fail from now on); kills it if it has not after a moment. */
    abandon(): void {
      const running = this.running;
      if (!running) return;
      running.reads.aborted = true;
      this.send({ type: 'cancel', id: running.id });
      setTimeout(() => {
        if (this.running === running) this.kill('abandoned', new AbortedError());
      }, ABANDON_GRACE_MS).unref();
    }
  }

  const workers = Array.from({ length: Math.max(1, options.size) }, () => new Worker());
  const spinCheck = setInterval(() => {
    for (const w of workers) w.checkIdle();
  }, spinCheckMs).unref();

  function wake(): void {
    while (waiting.length && workers.some((w) => w.state === 'idle')) waiting.shift()!();
  }

  /**
   * An idle worker, preferring the one that has `sourceId` open, else the longest idle. The limiter
   * grants one slot per worker, so this waits only while a worker is being replaced — bounded by
   * `waitMs` (a worker that keeps failing to start must not hold requests for ever): 503 past it.
   */
  async function acquire(sourceId: string, avoid: Worker | undefined, waitMs: number): Promise<Worker> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const idle = workers.filter((w) => w.state === 'idle');
      const pick =
        idle.find((w) => w !== avoid && w.recent.includes(sourceId)) ??
        idle.filter((w) => w !== avoid).sort((a, b) => a.lastUsed - b.lastUsed)[0] ??
        idle[0];
      if (pick) {
        pick.state = 'busy';
        return pick;
      }
      if (closing || Date.now() >= deadline) throw errors.saturated(1);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async function run(job: Job, runOptions: RunOptions): Promise<unknown> {
    let avoid: Worker | undefined;
    for (let attempt = 0; ; attempt++) {
      if (runOptions.signal?.aborted) throw new AbortedError();
      const worker = await acquire(job.source.id, avoid, Math.max(runOptions.timeoutMs, WORKER_START_WAIT_MS));
      const started = performance.now();
      let delivered = 0;
      const work = worker.execute(job, {
        ...runOptions,
        onFrame: runOptions.onFrame
          ? (frame) => {
              delivered++;
              return runOptions.onFrame!(frame);
            }
          : undefined,
      });
      const onAbort = () => worker.abandon();
      runOptions.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const result = await work;
        return result;
      } catch (err) {
        if (err instanceof WorkerDied) {
          // Once on another worker, when the client has received nothing of this job yet.
          if (attempt === 0 && delivered === 0 && !runOptions.signal?.aborted) {
            avoid = worker;
            continue;
          }
          throw errors.workerFailed(err.reason);
        }
        if (runOptions.signal?.aborted) throw new AbortedError();
        throw err;
      } finally {
        runOptions.signal?.removeEventListener('abort', onAbort);
        jobSeconds.observe((performance.now() - started) / 1000, { kind: job.kind });
      }
    }
  }

  metrics.gauge('stillframe_workers_busy', 'Capture workers running a job', () => workers.filter((w) => w.state === 'busy').length);

  return {
    run: run as WorkerPool['run'],
    size: workers.length,
    get busy() {
      return workers.filter((w) => w.state === 'busy').length;
    },
    ready: Promise.all(workers.map((w) => w.started)).then(() => undefined),
    versions,
    async close() {
      closing = true;
      clearInterval(spinCheck);
      for (const resolve of waiting.splice(0)) resolve();
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
              w.child.once('exit', () => resolve());
              w.child.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

function jobError(error: { status: number; code: string; message: string }): Error {
  if (error.status === 499) return new AbortedError();
  return errors.fromWorker(error);
}
