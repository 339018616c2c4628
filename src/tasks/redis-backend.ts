// The scale-out task backend (STILLFRAME_REDIS_URL): task records in Redis, so any node answers
// GetTask/ListTasks for any task, and a BullMQ queue that every node with the worker role consumes.
// No cluster code of our own:
//  - A new task's record is written, then a BullMQ job whose jobId is the TaskId (a repeated add is a
//    no-op) carries only the id.
//  - A worker that dies (crash, SIGKILL) stops renewing its job lock; BullMQ's stalled-job check on
//    another node puts the job back and another worker reruns it. The rerun skips the outputs already
//    recorded and rewrites any other one under the same deterministic name (objects are written whole,
//    temp + rename / single PUT): each output exists once and whole.
//  - The final status is set by a Lua compare-and-set (Running → Succeeded/Failed): a task ends once,
//    so the service counts and notifies it once.
//  - A run interrupted by shutdown goes back to the queue (moved, not failed: restarts never spend the
//    job's retries); a job BullMQ gives up on (stalled too often, retries spent) is abandoned to the
//    service, which ends its task Failed.
// Keys (prefix STILLFRAME_REDIS_PREFIX): {p}:project:<name> (JSON), {p}:projects (zset of names),
// {p}:task:<id> (hash: rec JSON + mutable fields), {p}:task:<id>:out (list of output JSON),
// {p}:task:<id>:uris (set, dedup), {p}:tasks:<project> (zset TaskId by CreateTime), {p}:bull:tasks:* (queue).
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { TaskBackend, TaskRunner } from './backend.js';
import type { OutputRecord, ProjectRecord, TaskRecord } from './records.js';

export interface RedisBackendOptions {
  url: string;
  /** api: records and the queue, no runs; worker/all: also runs queued tasks. */
  role: 'all' | 'api' | 'worker';
  /** Job lock: a worker silent this long has its task rerun elsewhere. */
  lockMs: number;
  prefix: string;
  retentionDays: number;
  /** Tasks run at once on this node. */
  concurrency: number;
  log: Logger;
}

interface JobData {
  taskId: string;
}

const MUTABLE = ['Status', 'Code', 'Message', 'StartTime', 'EndTime', 'Progress', 'Attempts', 'Notified'] as const;

// KEYS[1] task hash; ARGV: Status, Code, Message, EndTime, Progress ('' = keep). Only a Running task ends.
const FINISH = `
if redis.call('HGET', KEYS[1], 'Status') ~= 'Running' then return 0 end
redis.call('HSET', KEYS[1], 'Status', ARGV[1], 'Code', ARGV[2], 'Message', ARGV[3], 'EndTime', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'Progress', ARGV[5]) end
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
// KEYS[1] task hash: a field set only on a task that still exists (never re-creating a deleted one).
const SET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

export async function createRedisBackend(options: RedisBackendOptions): Promise<TaskBackend> {
  const { log } = options;
  const p = options.prefix;
  const k = {
    project: (name: string) => `${p}:project:${name}`,
    projects: `${p}:projects`,
    task: (id: string) => `${p}:task:${id}`,
    out: (id: string) => `${p}:task:${id}:out`,
    uris: (id: string) => `${p}:task:${id}:uris`,
    tasks: (project: string) => `${p}:tasks:${project}`,
  };
  const retentionSeconds = options.retentionDays * 86_400;
  const redis = new Redis(options.url, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', (err) => log.warn('redis error', { err: err.message }));
  await redis.connect();
  const queueName = 'tasks';
  const queue = new Queue<JobData>(queueName, { connection: redis, prefix: `${p}:bull` });
  let worker: Worker<JobData> | undefined;
  let queuedCount = 0;
  let closed = false;

  const refreshQueued = () => void queue.getJobCountByTypes('waiting', 'prioritized').then((n) => (queuedCount = n), () => undefined);
  const counter = setInterval(refreshQueued, 2000);
  counter.unref();

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

  function startWorker(runner: TaskRunner) {
    const processor = async (job: Job<JobData>, token?: string) => {
      const outcome = await runner.run(job.data.taskId);
      if (outcome === 'interrupted') {
        await job.moveToWait(token);
        throw new WaitingError();
      }
    };
    worker = new Worker<JobData>(queueName, processor, {
      connection: new Redis(options.url, { maxRetriesPerRequest: null }),
      prefix: `${p}:bull`,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
      maxStalledCount: 3,
    });
    worker.on('error', (err) => log.warn('task worker error', { err: err.message }));
    // A job BullMQ gives up on (stalled too often, retries spent) must not leave its task Running.
    worker.on('failed', (job, err) => {
      if (!job || closed) return;
      if (job.attemptsMade < (job.opts.attempts ?? 1) && !/stalled/i.test(err.message)) return;
      void runner.abandon(job.data.taskId, err.message).catch(() => undefined);
    });
    worker.on('stalled', (jobId) => log.warn('task stalled: its worker stopped; rerunning', { taskId: jobId }));
  }

  return {
    async createProject(project) {
      const created = await redis.set(k.project(project.ProjectName), JSON.stringify(project), 'NX');
      if (created !== 'OK') return false;
      await redis.zadd(k.projects, 0, project.ProjectName);
      return true;
    },
    async getProject(name) {
      const raw = await redis.get(k.project(name));
      return raw ? (JSON.parse(raw) as ProjectRecord) : undefined;
    },
    async listProjects() {
      const names = await redis.zrange(k.projects, 0, -1);
      const raws = names.length ? await redis.mget(names.map(k.project)) : [];
      return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as ProjectRecord);
    },
    async deleteProject(name) {
      const ids = await redis.zrange(k.tasks(name), 0, -1);
      for (const id of ids) {
        await queue.remove(id).catch(() => undefined); // a job locked by another node ends on its own
        await redis.del(k.task(id), k.out(id), k.uris(id));
      }
      await redis.del(k.tasks(name), k.project(name));
      await redis.zrem(k.projects, name);
      return ids;
    },

    async addTask(task) {
      const { Outputs: _outputs, ...rec } = task;
      await redis
        .multi()
        .hset(k.task(task.TaskId), { rec: JSON.stringify(rec), Status: 'Running', Progress: '0', Attempts: '0', Notified: '0' })
        .zadd(k.tasks(task.ProjectName), Date.parse(task.CreateTime), task.TaskId)
        .exec();
      await queue.add('MediaConvert', { taskId: task.TaskId }, {
        jobId: task.TaskId,
        attempts: 5,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: retentionSeconds },
      });
      queuedCount++;
    },
    getTask: loadTask,
    async projectTasks(projectName) {
      const ids = await redis.zrange(k.tasks(projectName), 0, -1);
      const loaded = await loadTasks(ids);
      // Expired records (retention) leave the index lazily.
      const gone = ids.filter((_, i) => !loaded[i]);
      if (gone.length) await redis.zrem(k.tasks(projectName), ...gone);
      return loaded.filter((t): t is TaskRecord => !!t);
    },

    async startAttempt(id) {
      const task = await loadTask(id);
      if (task?.Status !== 'Running') return undefined; // deleted, or ended by an earlier attempt
      const now = new Date().toISOString();
      task.Attempts = await redis.hincrby(k.task(id), 'Attempts', 1);
      if (await redis.hsetnx(k.task(id), 'StartTime', now)) task.StartTime = now;
      return task;
    },
    progress(id, percent, persist) {
      if (persist) void redis.eval(PROGRESS, 1, k.task(id), String(percent)).catch(() => undefined);
    },
    async addOutput(id, output) {
      await redis.eval(ADD_OUTPUT, 3, k.uris(id), k.out(id), k.task(id), output.URI, JSON.stringify(output));
    },
    async finish(id, ending) {
      const won = await redis.eval(FINISH, 1, k.task(id), ending.Status, ending.Code, ending.Message, ending.EndTime, ending.Progress === undefined ? '' : String(ending.Progress));
      if (won !== 1) return undefined; // another node, an earlier attempt or a deletion ended it first
      await redis.multi().expire(k.task(id), retentionSeconds).expire(k.out(id), retentionSeconds).expire(k.uris(id), retentionSeconds).exec();
      return loadTask(id);
    },
    async markNotified(id) {
      await redis.eval(SET_IF_EXISTS, 1, k.task(id), 'Notified', '1');
    },

    // BullMQ keeps the queue in Redis: jobs of a node that died come back through the stalled check, not
    // through here. A notification interrupted by a crash is not tracked (docs/scale-out.md: not done).
    async start(runner) {
      if (options.role !== 'api') startWorker(runner);
      return [];
    },
    pause() {
      void worker?.pause(true);
    },
    async idle() {
      for (;;) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        if (!Object.values(counts).some((n) => n > 0)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    get queued() {
      return queuedCount;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(counter);
      await worker?.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
  };
}
