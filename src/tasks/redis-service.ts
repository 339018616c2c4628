// The scale-out task service (STILLFRAME_REDIS_URL): the same API as the embedded one (service.ts), with
// task records in Redis, so any node answers GetTask/ListTasks for any task, and execution through a
// BullMQ queue that every node with the worker role consumes. No cluster code of our own:
//  - Submission writes the record, then adds a BullMQ job whose jobId is the TaskId (idempotent).
//  - A worker that dies (crash, SIGKILL) stops renewing its job lock; BullMQ's stalled-job check on
//    another node puts the job back and another worker reruns it. The rerun skips the outputs already
//    recorded and rewrites any other one under the same deterministic name (objects are written whole,
//    temp + rename / single PUT): each output exists once and whole.
//  - The final status is set by a Lua compare-and-set (Running → Succeeded/Failed): a task ends once,
//    its metrics count once and its notification is sent once.
// Keys (prefix STILLFRAME_REDIS_PREFIX): {p}:project:<name> (JSON), {p}:projects (zset of names),
// {p}:task:<id> (hash: rec JSON + mutable fields), {p}:task:<id>:out (list of output JSON),
// {p}:task:<id>:uris (set, dedup), {p}:tasks:<project> (zset TaskId by CreateTime).
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { AppError, errors } from '../errors.js';
import { parseConvertTask } from '../process/imm-request.js';
import type { OutputRecord, ProjectRecord, TaskRecord } from './journal.js';
import { createNotifier } from './notifier.js';
import {
  attemptTask,
  completionMessage,
  newProjectRecord,
  newTaskRecord,
  pageOf,
  selectTasks,
  validateResources,
  type TaskService,
  type TaskServiceDeps,
} from './service.js';

export interface RedisTaskOptions {
  url: string;
  role: 'all' | 'api' | 'worker';
  lockMs: number;
  prefix: string;
}

interface JobData {
  taskId: string;
}

const MUTABLE = ['Status', 'Code', 'Message', 'StartTime', 'EndTime', 'Progress', 'Attempts', 'Notified'] as const;

// KEYS[1] task hash; ARGV: Status, Code, Message, EndTime, Progress. Only a Running task ends.
const FINISH = `
if redis.call('HGET', KEYS[1], 'Status') ~= 'Running' then return 0 end
redis.call('HSET', KEYS[1], 'Status', ARGV[1], 'Code', ARGV[2], 'Message', ARGV[3], 'EndTime', ARGV[4], 'Progress', ARGV[5])
return 1`;
// KEYS[1] uris set, KEYS[2] outputs list, KEYS[3] task hash; ARGV[1] URI, ARGV[2] output JSON.
const ADD_OUTPUT = `
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) return 1 end
return 0`;
// KEYS[1] task hash; ARGV[1] progress: only forward, only while Running.
const PROGRESS = `
if redis.call('HGET', KEYS[1], 'Status') ~= 'Running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'Progress') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'Progress', ARGV[1])
return 1`;

export async function createRedisTaskService(deps: TaskServiceDeps, options: RedisTaskOptions): Promise<TaskService> {
  const { log, store } = deps;
  const outputStore = deps.outputStore ?? store;
  const p = options.prefix;
  const k = {
    project: (name: string) => `${p}:project:${name}`,
    projects: `${p}:projects`,
    task: (id: string) => `${p}:task:${id}`,
    out: (id: string) => `${p}:task:${id}:out`,
    uris: (id: string) => `${p}:task:${id}:uris`,
    tasks: (project: string) => `${p}:tasks:${project}`,
  };
  const retentionSeconds = deps.retentionDays * 86_400;
  const redis = new Redis(options.url, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', (err) => log.warn('redis error', { err: err.message }));
  await redis.connect();
  const queueName = 'tasks';
  const queue = new Queue<JobData>(queueName, { connection: redis, prefix: `${p}:bull` });
  const notifier = createNotifier({ ...deps.webhooks, log });
  const closing = new AbortController();
  const running = new Map<string, AbortController>();
  let queuedCount = 0;
  let closed = false;

  const finished = deps.metrics.counter('stillframe_tasks_total', 'IMM tasks finished by status');
  const extracted = deps.metrics.counter('stillframe_task_frames_total', 'Frames of task extractions: wanted, and decoded to get them');
  deps.metrics.gauge('stillframe_tasks_running', 'IMM tasks running on this node', () => running.size);
  deps.metrics.gauge('stillframe_tasks_queued', 'IMM tasks waiting in the shared queue (last count)', () => queuedCount);
  const refreshQueued = () => void queue.getJobCountByTypes('waiting', 'prioritized').then((n) => (queuedCount = n), () => undefined);
  const counter = setInterval(refreshQueued, 2000);
  counter.unref();

  async function loadProject(name: string): Promise<ProjectRecord | undefined> {
    const raw = await redis.get(k.project(name));
    return raw ? (JSON.parse(raw) as ProjectRecord) : undefined;
  }
  async function requireProject(name: string, field = 'ProjectName'): Promise<ProjectRecord> {
    const project = await loadProject(name);
    if (!project) throw errors.resourceNotFound(`${field}: the project "${name}" does not exist.`);
    return project;
  }

  async function loadTasks(ids: string[]): Promise<(TaskRecord | undefined)[]> {
    if (!ids.length) return [];
    const pipe = redis.pipeline();
    for (const id of ids) {
      pipe.hgetall(k.task(id));
      pipe.lrange(k.out(id), 0, -1);
    }
    const results = (await pipe.exec()) ?? [];
    return ids.map((_, i) => {
      const [hashErr, hash] = results[2 * i] ?? [];
      const [, outs] = results[2 * i + 1] ?? [];
      if (hashErr) throw hashErr;
      const h = hash as Record<string, string>;
      if (!h.rec) return undefined;
      const task = JSON.parse(h.rec) as TaskRecord;
      for (const field of MUTABLE) {
        const v = h[field];
        if (v === undefined) continue;
        if (field === 'Progress' || field === 'Attempts') task[field] = Number(v);
        else if (field === 'Notified') task.Notified = v === '1';
        else if (field === 'Status') task.Status = v as TaskRecord['Status'];
        else task[field] = v;
      }
      task.Outputs = ((outs as string[]) ?? []).map((o) => JSON.parse(o) as OutputRecord);
      return task;
    });
  }
  const loadTask = async (id: string) => (await loadTasks([id]))[0];

  async function expireTask(id: string) {
    await redis.multi().expire(k.task(id), retentionSeconds).expire(k.out(id), retentionSeconds).expire(k.uris(id), retentionSeconds).exec();
  }

  async function finish(id: string, result: Pick<TaskRecord, 'Status' | 'Code' | 'Message'>, progress: number) {
    const won = await redis.eval(FINISH, 1, k.task(id), result.Status, result.Code, result.Message, new Date().toISOString(), String(progress));
    if (won !== 1) return; // another node (or a deletion) ended it first
    await expireTask(id);
    finished.inc({ status: result.Status });
    const task = await loadTask(id);
    log.info('task finished', { taskId: id, status: result.Status, outputs: task?.Outputs.length, code: result.Code || undefined });
    if (!task) return;
    if (task.Topic) {
      await notifier.deliver(task.Topic, completionMessage(task), closing.signal);
      if (closing.signal.aborted) return;
    }
    await redis.hset(k.task(id), 'Notified', '1');
  }

  async function run(job: Job<JobData>, token?: string) {
    const id = job.data.taskId;
    const task = await loadTask(id);
    if (!task || task.Status !== 'Running') return; // deleted, or finished by an earlier attempt
    const controller = new AbortController();
    running.set(id, controller);
    const attempts = await redis.hincrby(k.task(id), 'Attempts', 1);
    await redis.hsetnx(k.task(id), 'StartTime', new Date().toISOString());
    log.info('task started', { taskId: id, project: task.ProjectName, attempt: attempts, job: job.id });
    try {
      const { result, progress } = await attemptTask(deps, outputStore, extracted, task, {
        signal: controller.signal,
        closing: () => closed,
        record: {
          progress(percent, persist) {
            if (persist) void redis.eval(PROGRESS, 1, k.task(id), String(percent)).catch(() => undefined);
          },
          output: async (output) => {
            await redis.eval(ADD_OUTPUT, 3, k.uris(id), k.out(id), k.task(id), output.URI, JSON.stringify(output));
          },
        },
      });
      // Interrupted by shutdown: back to the queue for this node after its restart, or another node.
      // Moved, not failed, so that restarts never spend the job's retry attempts.
      if (result === 'interrupted') {
        await job.moveToWait(token);
        throw new WaitingError();
      }
      await finish(id, result, progress);
    } finally {
      running.delete(id);
    }
  }

  let worker: Worker<JobData> | undefined;
  if (options.role !== 'api') {
    worker = new Worker<JobData>(queueName, run, {
      connection: new Redis(options.url, { maxRetriesPerRequest: null }),
      prefix: `${p}:bull`,
      concurrency: deps.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
      maxStalledCount: 3,
    });
    worker.on('error', (err) => log.warn('task worker error', { err: err.message }));
    // A job BullMQ gives up on (stalled too often, retries spent) must not leave its task Running.
    worker.on('failed', (job, err) => {
      if (!job || closed) return;
      if (job.attemptsMade < (job.opts.attempts ?? 1) && !/stalled/i.test(err.message)) return;
      void finish(job.data.taskId, { Status: 'Failed', Code: 'InternalError', Message: `The task could not be run: ${err.message}` }, 0).catch(() => undefined);
    });
    worker.on('stalled', (jobId) => log.warn('task stalled: its worker stopped; rerunning', { taskId: jobId }));
  }

  const service: TaskService = {
    async createProject(request) {
      const project = newProjectRecord(request);
      const created = await redis.set(k.project(request.projectName), JSON.stringify(project), 'NX');
      if (created !== 'OK') throw errors.resourceAlreadyExists(`ProjectName: the project "${request.projectName}" already exists.`);
      await redis.zadd(k.projects, 0, request.projectName);
      return project;
    },
    getProject: (name) => requireProject(name),
    async listProjects(request) {
      const names = await redis.zrange(k.projects, 0, -1);
      const raws = names.length ? await redis.mget(names.map(k.project)) : [];
      const all = raws
        .filter((r): r is string => r !== null)
        .map((r) => JSON.parse(r) as ProjectRecord)
        .filter((pr) => !request.prefix || pr.ProjectName.startsWith(request.prefix))
        .sort((a, b) => a.ProjectName.localeCompare(b.ProjectName));
      const { items, nextToken } = pageOf(all, request);
      return { projects: items, nextToken };
    },
    async deleteProject(name) {
      await requireProject(name);
      const ids = await redis.zrange(k.tasks(name), 0, -1);
      for (const id of ids) {
        running.get(id)?.abort();
        await queue.remove(id).catch(() => undefined); // a job locked by another node ends on its own
        await redis.del(k.task(id), k.out(id), k.uris(id));
      }
      await redis.del(k.tasks(name), k.project(name));
      await redis.zrem(k.projects, name);
    },
    async ensureProject(name, description) {
      if (await loadProject(name)) return;
      await service.createProject({ projectName: name, description, serviceRole: undefined, templateId: undefined, tags: {} }).catch((err: unknown) => {
        if (!(err instanceof AppError && err.status === 409)) throw err;
      });
    },
    async submit(params) {
      if (closed) throw errors.saturated(5);
      const createdAt = new Date();
      const request = parseConvertTask(params, deps.limits, createdAt);
      await requireProject(request.projectName);
      await validateResources(store, outputStore, request, createdAt);
      const task = newTaskRecord(request, createdAt);
      const { Outputs: _outputs, ...rec } = task;
      // Stored before the TaskId leaves the server; the job carries only the id.
      await redis
        .multi()
        .hset(k.task(task.TaskId), { rec: JSON.stringify(rec), Status: 'Running', Progress: '0', Attempts: '0', Notified: '0' })
        .zadd(k.tasks(task.ProjectName), createdAt.getTime(), task.TaskId)
        .exec();
      await queue.add('MediaConvert', { taskId: task.TaskId }, {
        jobId: task.TaskId,
        attempts: 5,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: retentionSeconds },
      });
      queuedCount++;
      log.info('task accepted', { taskId: task.TaskId, project: task.ProjectName, sources: request.sources.length, snapshots: request.snapshots.length });
      return task;
    },
    async getTask(projectName, taskId) {
      await requireProject(projectName);
      const task = await loadTask(taskId);
      if (!task || task.ProjectName !== projectName) throw errors.noSuchTask(projectName, taskId);
      return task;
    },
    async listTasks(request) {
      await requireProject(request.projectName);
      const ids = await redis.zrange(k.tasks(request.projectName), 0, -1);
      const loaded = await loadTasks(ids);
      // Expired records (retention) leave the index lazily.
      const gone = ids.filter((_, i) => !loaded[i]);
      if (gone.length) await redis.zrem(k.tasks(request.projectName), ...gone);
      const { items, nextToken } = pageOf(selectTasks(loaded.filter((t): t is TaskRecord => !!t), request), request);
      return { tasks: items, nextToken };
    },
    async idle() {
      for (;;) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        if (!Object.values(counts).some((n) => n > 0) && !running.size) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    pause() {
      void worker?.pause(true);
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      clearInterval(counter);
      for (const controller of running.values()) controller.abort();
      await worker?.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
    get running() {
      return running.size;
    },
    get queued() {
      return queuedCount;
    },
  };
  return service;
}
