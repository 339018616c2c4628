// The task service over a fake backend (in memory, its queue drained by hand) and a fake capture: what
// the service itself decides, whichever backend holds the records — one parse per submit, checks before
// anything is recorded, a run re-deriving exactly the accepted request, a task ended (counted, notified)
// exactly once, shutdown leaving an interrupted task Running, recovery of owed notifications.
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Capture, IndexedSource } from '../../../src/core/capture.js';
import { createMetrics, type Counter, type Metrics } from '../../../src/core/metrics.js';
import { AppError, errors } from '../../../src/errors.js';
import { createAccessControl } from '../../../src/http/access.js';
import type { AppEnv } from '../../../src/http/context.js';
import { rpcSignature } from '../../../src/http/imm-auth.js';
import { createImmHandler } from '../../../src/http/imm-routes.js';
import { createMemoryNonceStore } from '../../../src/http/nonce-store.js';
import { silentLogger } from '../../../src/log.js';
import * as immRequest from '../../../src/process/imm-request.js';
import type { ObjectStat, ObjectStore } from '../../../src/source/store.js';
import type { TaskBackend, TaskRunner } from '../../../src/tasks/backend.js';
import type { OutputRecord, ProjectRecord, TaskRecord } from '../../../src/tasks/records.js';
import { createTaskService, type TaskService } from '../../../src/tasks/service.js';

// The one parser, counted: every call of parseConvertTask, wherever it comes from, goes through this spy.
vi.mock('../../../src/process/imm-request.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/process/imm-request.js')>();
  return { ...original, parseConvertTask: vi.fn(original.parseConvertTask) };
});
const parses = vi.mocked(immRequest.parseConvertTask);

const LIMITS = { maxOutputDimension: 4096, maxFramesPerTask: 100 };
const FPS = 10;
const FRAMES = 40; // 4 s

/** An in-memory backend: records in maps, finish as a compare-and-set, a queue drained by the test. */
function fakeBackend() {
  const projects = new Map<string, ProjectRecord>();
  const tasks = new Map<string, TaskRecord>();
  const queue: string[] = [];
  const notified: string[] = [];
  let runner: TaskRunner | undefined;
  let owed: TaskRecord[] = [];
  const backend: TaskBackend & {
    tasks: typeof tasks;
    queue: string[];
    notified: string[];
    owe(task: TaskRecord): void;
    /** Hands every queued task to the runner, one after the other. */
    drain(): Promise<('done' | 'interrupted')[]>;
    runner(): TaskRunner;
  } = {
    tasks,
    queue,
    notified,
    owe: (task) => void owed.push(task),
    async drain() {
      const outcomes: ('done' | 'interrupted')[] = [];
      while (queue.length) outcomes.push(await runner!.run(queue.shift()!));
      return outcomes;
    },
    runner: () => runner!,
    async createProject(project) {
      if (projects.has(project.ProjectName)) return false;
      projects.set(project.ProjectName, project);
      return true;
    },
    getProject: async (name) => projects.get(name),
    listProjects: async () => [...projects.values()],
    async deleteProject(name) {
      const ids = [...tasks.values()].filter((t) => t.ProjectName === name).map((t) => t.TaskId);
      for (const id of ids) tasks.delete(id);
      projects.delete(name);
      return ids;
    },
    async addTask(task) {
      tasks.set(task.TaskId, structuredClone(task));
      queue.push(task.TaskId);
    },
    getTask: async (id) => tasks.get(id),
    projectTasks: async (name) => [...tasks.values()].filter((t) => t.ProjectName === name),
    async startAttempt(id) {
      const task = tasks.get(id);
      if (task?.Status !== 'Running') return undefined;
      task.Attempts++;
      task.StartTime ??= new Date().toISOString();
      return structuredClone(task);
    },
    progress(id, percent) {
      const task = tasks.get(id);
      if (task) task.Progress = percent;
    },
    async addOutput(id, output) {
      const task = tasks.get(id);
      if (task && !task.Outputs.some((o) => o.URI === output.URI)) task.Outputs.push(output);
    },
    async finish(id, ending) {
      const task = tasks.get(id);
      if (task?.Status !== 'Running') return undefined;
      const { Progress, ...rest } = ending;
      Object.assign(task, rest, { Progress: Progress ?? task.Progress });
      return structuredClone(task);
    },
    async markNotified(id) {
      notified.push(id);
      const task = tasks.get(id);
      if (task) task.Notified = true;
    },
    async start(r) {
      runner = r;
      const recovered = owed;
      owed = [];
      return recovered;
    },
    pause() {},
    idle: async () => undefined,
    get queued() {
      return queue.length;
    },
    close: async () => undefined,
  };
  return backend;
}

const STAT: ObjectStat = { size: 1000, etag: '"e"', lastModified: new Date('2024-01-02T03:04:05Z'), contentType: 'video/mp4' };

/** A store with bucket `media` (holding v.mp4) and bucket `out`; writes are kept. */
function fakeStore() {
  const written = new Map<string, number>();
  const store: ObjectStore & { written: typeof written } = {
    written,
    description: 'memory',
    async stat(bucket, key) {
      if (bucket !== 'media' && bucket !== 'out') throw errors.noSuchBucket(bucket);
      if (bucket === 'media' && key === 'v.mp4') return STAT;
      throw errors.noSuchKey(key);
    },
    read: () => Promise.reject(new Error('not read in these tests')),
    async write(bucket, key, body) {
      written.set(`${bucket}/${key}`, (written.get(`${bucket}/${key}`) ?? 0) + 1);
      return { ...STAT, size: (body as Buffer).length };
    },
  };
  return store;
}

/** A 4 s, 10 fps video with a keyframe every second; `gate` holds each extraction until it resolves. */
function fakeCapture(gate?: (signal: AbortSignal) => Promise<void>): Capture {
  const index = { pts: Array.from({ length: FRAMES }, (_, i) => i / FPS), key: Array.from({ length: FRAMES }, (_, i) => i % FPS === 0) };
  return {
    process: () => Promise.reject(new Error('not used by tasks')),
    async openSource(bucket, key, stat) {
      const video = { width: 64, height: 36, rotation: 0, sampleAspect: 1, startTime: 0, frameDuration: 1 / FPS };
      return { bucket, key, stat, video, index } as unknown as IndexedSource;
    },
    async extract(_source, job, onFrame, signal) {
      await gate?.(signal);
      for (const [position, pts] of job.frames.entries()) {
        signal.throwIfAborted();
        await onFrame({ position, pts, data: new Uint8Array([position]), width: 64, height: 36 });
      }
      return { decoded: job.frames.length, seeks: 0 };
    },
  };
}

/** Metrics whose counters the test can read back: increments tallied by name and label values. */
function readableMetrics(): Metrics & { count(name: string, labels: Record<string, string>): number } {
  const real = createMetrics({ defaults: false });
  const tallies = new Map<string, number>();
  const keyOf = (name: string, labels: Record<string, string> = {}) => `${name}${JSON.stringify(Object.entries(labels).sort())}`;
  return {
    ...real,
    counter(name, help, labelNames) {
      const counter = real.counter(name, help, labelNames);
      return {
        inc(labels, by = 1) {
          const key = keyOf(name, labels);
          tallies.set(key, (tallies.get(key) ?? 0) + by);
          counter.inc(labels, by);
        },
      } satisfies Counter;
    },
    count: (name, labels) => tallies.get(keyOf(name, labels)) ?? 0,
  };
}

interface Setup {
  backend: ReturnType<typeof fakeBackend>;
  store: ReturnType<typeof fakeStore>;
  metrics: ReturnType<typeof readableMetrics>;
  service: TaskService;
}

const services: TaskService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
  parses.mockClear();
});

async function setup(options: { capture?: Capture; backend?: ReturnType<typeof fakeBackend> } = {}): Promise<Setup> {
  const backend = options.backend ?? fakeBackend();
  const store = fakeStore();
  const metrics = readableMetrics();
  const service = await createTaskService(
    {
      store,
      capture: options.capture ?? fakeCapture(),
      quality: { jpeg: 85, webp: 80, avif: 55 },
      metrics,
      log: silentLogger,
      limits: LIMITS,
      webhooks: { topics: {}, secret: undefined, retries: 0, backoffMs: 1, timeoutMs: 1000 },
    },
    backend,
  );
  services.push(service);
  await service.createProject({ projectName: 'p', description: undefined, serviceRole: undefined, templateId: undefined, tags: {} });
  return { backend, store, metrics, service };
}

const REQUEST = {
  ProjectName: 'p',
  Sources: [{ URI: 'oss://media/v.mp4' }],
  Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Interval: 1, URI: 'oss://out/{t_year}/{index}.jpg' }] } }],
  Tags: { team: 'a' },
};

const parse = (params: Record<string, unknown> = REQUEST, createdAt = new Date()) => immRequest.parseConvertTask(params, LIMITS, createdAt);

/** The IMM route in front of the service, as the app mounts it. */
function route(service: TaskService, keys: Record<string, string> = {}) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set('requestId', 'R');
    c.set('log', silentLogger);
    await next();
  });
  const access = createAccessControl({ keys, bucketAcl: {}, keyBuckets: {} });
  app.all('/', createImmHandler({ tasks: service, accessKeys: keys, nonces: createMemoryNonceStore(), access, limits: LIMITS }));
  return app;
}

const finishedCount = (metrics: Setup['metrics'], status: string) => metrics.count('stillframe_tasks_total', { status });

describe('one parse per submit', () => {
  it('the route parses a CreateMediaConvertTask once; the record holds its definition before the TaskId is answered', async () => {
    const { backend, service } = await setup();
    parses.mockClear();
    const res = await route(service).request('/?Action=CreateMediaConvertTask', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(REQUEST) });
    const body = (await res.json()) as Record<string, string>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(parses).toHaveBeenCalledTimes(1);
    const record = backend.tasks.get(body.TaskId!)!;
    expect(record).toMatchObject({ Status: 'Running', Definition: { ProjectName: 'p', Sources: REQUEST.Sources, Targets: REQUEST.Targets, Tags: { team: 'a' } } });
    expect(backend.queue).toEqual([body.TaskId]);
  });

  it('once also when access keys are on (bucket permissions come from the same parse)', async () => {
    const { service } = await setup();
    parses.mockClear();
    const params: Record<string, string> = {
      Action: 'CreateMediaConvertTask', Version: '2020-09-30', AccessKeyId: 'k', SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0',
      SignatureNonce: 'n-1', Timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      ProjectName: 'p', Sources: JSON.stringify(REQUEST.Sources), Targets: JSON.stringify(REQUEST.Targets),
    };
    params.Signature = rpcSignature('secret', 'POST', params);
    const res = await route(service, { k: 'secret' }).request('/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(parses).toHaveBeenCalledTimes(1);
  });

  it('a run re-derives exactly the accepted request from the recorded definition', async () => {
    const { backend, service, store } = await setup();
    const accepted = parse();
    const task = await service.submit(accepted);
    parses.mockClear();
    expect(await backend.drain()).toEqual(['done']);
    // One parse for the run, of the recorded definition, at the task's creation time: the same request.
    expect(parses).toHaveBeenCalledTimes(1);
    expect(parses.mock.calls[0]![0]).toEqual(backend.tasks.get(task.TaskId)!.Definition);
    expect(parses.mock.results[0]!.value).toEqual(accepted);
    const year = accepted.createdAt.getUTCFullYear();
    expect([...store.written.keys()].sort()).toEqual([1, 2, 3, 4].map((i) => `out/${year}/${i}.jpg`));
    expect(backend.tasks.get(task.TaskId)).toMatchObject({ Status: 'Succeeded', Progress: 100, Attempts: 1 });
  });
});

describe('submit checks before recording', () => {
  it.each([
    ['an unknown project', { ProjectName: 'nope' }, 404, 'ProjectName: the project "nope" does not exist.'],
    ['a missing source', { Sources: [{ URI: 'oss://media/missing.mp4' }] }, 404, 'Sources[0].URI: oss://media/missing.mp4 does not exist.'],
    ['a missing output bucket', { Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 1, URI: 'oss://nowhere/a.jpg' }] } }] }, 404, 'Targets[0].Image.Snapshots[0].URI: the bucket "nowhere" does not exist.'],
  ])('%s', async (_name, change, status, message) => {
    const { backend, service } = await setup();
    const err = await service.submit(parse({ ...REQUEST, ...change })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect([(err as AppError).status, (err as AppError).message]).toEqual([status, message]);
    expect([backend.tasks.size, backend.queue.length]).toEqual([0, 0]);
  });

  it('refuses new tasks once closing (503), recording nothing', async () => {
    const { backend, service } = await setup();
    await service.close();
    await expect(service.submit(parse())).rejects.toMatchObject({ status: 503 });
    expect(backend.tasks.size).toBe(0);
  });
});

describe('ending a task', () => {
  it('exactly once: two runs of one task (two nodes) and an abandon end it once, counted and notified once', async () => {
    const { backend, service, metrics } = await setup();
    const { TaskId } = await service.submit(parse());
    backend.queue.splice(0);
    const runner = backend.runner();
    expect(await Promise.all([runner.run(TaskId), runner.run(TaskId)])).toEqual(['done', 'done']);
    await runner.abandon(TaskId, 'stalled');
    await vi.waitFor(() => expect(backend.notified).toEqual([TaskId]));
    expect(backend.tasks.get(TaskId)).toMatchObject({ Status: 'Succeeded', Attempts: 2, Notified: true });
    expect(backend.tasks.get(TaskId)!.Outputs.map((o: OutputRecord) => o.Index)).toEqual([1, 2, 3, 4]);
    expect([finishedCount(metrics, 'Succeeded'), finishedCount(metrics, 'Failed')]).toEqual([1, 0]);
    // A run of an ended task does nothing.
    expect(await runner.run(TaskId)).toBe('done');
    expect(backend.tasks.get(TaskId)!.Attempts).toBe(2);
  });

  it('a failure found at run time ends the task Failed with its code, keeping its progress', async () => {
    const capture = fakeCapture();
    capture.openSource = () => Promise.reject(errors.invalidArgument('The object has no video stream and no embedded cover picture.'));
    const { backend, service, metrics } = await setup({ capture });
    const { TaskId } = await service.submit(parse());
    await backend.drain();
    expect(backend.tasks.get(TaskId)).toMatchObject({ Status: 'Failed', Code: 'InvalidArgument', Message: 'The object has no video stream and no embedded cover picture.', Progress: 0 });
    expect(finishedCount(metrics, 'Failed')).toBe(1);
  });

  it('a task the queue abandons ends Failed (InternalError) with the reason', async () => {
    const { backend, service } = await setup();
    const { TaskId } = await service.submit(parse());
    await backend.runner().abandon(TaskId, 'job stalled more than allowable limit');
    expect(backend.tasks.get(TaskId)).toMatchObject({ Status: 'Failed', Code: 'InternalError', Message: 'The task could not be run: job stalled more than allowable limit' });
  });
});

describe('shutdown, deletion and recovery', () => {
  const held = () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const gate = (signal: AbortSignal) =>
      new Promise<void>((_, reject) => {
        started();
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    return { running, capture: fakeCapture(gate) };
  };

  it('close() interrupts a run: the task stays Running, unfinished and unnotified, for the next start', async () => {
    const { running, capture } = held();
    const { backend, service, metrics } = await setup({ capture });
    const { TaskId } = await service.submit(parse());
    const outcome = backend.drain();
    await running;
    expect(service.running).toBe(1);
    await service.close();
    expect(await outcome).toEqual(['interrupted']);
    expect(backend.tasks.get(TaskId)).toMatchObject({ Status: 'Running', Notified: false });
    expect(backend.tasks.get(TaskId)!.EndTime).toBeUndefined();
    expect(finishedCount(metrics, 'Succeeded') + finishedCount(metrics, 'Failed')).toBe(0);
    expect(service.running).toBe(0);
  });

  it('deleting a project stops the runs of its tasks on this node, and ends nothing', async () => {
    const { running, capture } = held();
    const { backend, service, metrics } = await setup({ capture });
    await service.submit(parse());
    const outcome = backend.drain();
    await running;
    await service.deleteProject('p');
    expect(await outcome).toEqual(['done']);
    expect(backend.tasks.size).toBe(0);
    expect(finishedCount(metrics, 'Failed')).toBe(0);
  });

  it('notifies, at start, the ended tasks the backend says are still owed a notification', async () => {
    const backend = fakeBackend();
    backend.owe({
      ProjectName: 'p', TaskId: 'MediaConvert-owed', TaskType: 'MediaConvert', EventId: 'e', Status: 'Succeeded', Code: '', Message: '',
      CreateTime: new Date().toISOString(), EndTime: new Date().toISOString(), Progress: 100, Tags: {}, Definition: {}, Outputs: [], Notified: false, Attempts: 1,
    });
    await setup({ backend });
    await vi.waitFor(() => expect(backend.notified).toEqual(['MediaConvert-owed']));
  });
});
