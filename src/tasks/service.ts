// The IMM task service: projects, task submission (validated, then journaled durably before the TaskId
// is returned), a queue running up to `concurrency` tasks, recovery of unfinished tasks on start,
// retention, progress and completion notifications. HTTP routes and the CLI only translate to it.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Capture } from '../core/capture.js';
import type { Limiter } from '../core/limiter.js';
import type { Metrics } from '../core/metrics.js';
import { AppError, errors, toAppError } from '../errors.js';
import type { RenderOptions } from '../image/render.js';
import type { Logger } from '../log.js';
import { AbortedError } from '../media/run.js';
import type { FfmpegRunner } from '../media/runner.js';
import {
  outputUri,
  parseConvertTask,
  type ConvertTaskRequest,
  type CreateProjectRequest,
  type ListRequest,
  type ListTasksRequest,
  type RequestLimits,
} from '../process/imm-request.js';
import type { ObjectStore } from '../source/store.js';
import { executeTask } from './execute.js';
import type { ExtractContext } from './extract.js';
import { Journal, type OutputRecord, type ProjectRecord, type TaskRecord } from './journal.js';
import { createNotifier, immMessage, type NotifierOptions } from './notifier.js';

export interface TaskServiceDeps {
  store: ObjectStore;
  /** Where outputs are written; default `store` (set when the main store is a read-only origin). */
  outputStore?: ObjectStore;
  capture: Capture;
  runner: FfmpegRunner;
  limiter: Limiter;
  metrics: Metrics;
  log: Logger;
  quality: RenderOptions['quality'];
  limits: RequestLimits;
  stateDir: string;
  concurrency: number;
  retentionDays: number;
  ffmpegTimeoutMs: number;
  strategy: ExtractContext['strategy'];
  webhooks: Omit<NotifierOptions, 'log'>;
  /** Counts ffmpeg processes the task runner starts itself (multi-frame runs). */
  onFfmpegSpawn?: () => void;
}

/** Reads answer synchronously from the embedded journal and asynchronously from Redis (redis-service.ts). */
type Awaitable<T> = T | Promise<T>;

export interface TaskService {
  createProject(request: CreateProjectRequest): Promise<ProjectRecord>;
  getProject(name: string): Awaitable<ProjectRecord>;
  listProjects(request: ListRequest & { prefix: string | undefined }): Awaitable<{ projects: ProjectRecord[]; nextToken: string }>;
  deleteProject(name: string): Promise<void>;
  /** Creates the project if missing (sample setups). */
  ensureProject(name: string, description?: string): Promise<void>;
  /** Validates what needs I/O (project, sources, output buckets), journals, queues. */
  submit(params: Record<string, unknown>): Promise<TaskRecord>;
  getTask(projectName: string, taskId: string): Awaitable<TaskRecord>;
  listTasks(request: ListTasksRequest): Awaitable<{ tasks: TaskRecord[]; nextToken: string }>;
  /** Resolves when no task is queued or running (tests, CLI). */
  idle(): Promise<void>;
  /** Stop starting queued tasks (graceful shutdown): they stay journaled and run after the restart. */
  pause(): void;
  close(): Promise<void>;
  readonly running: number;
  readonly queued: number;
}

export const newEventId = () => `${randomBytes(2).toString('hex').toUpperCase().slice(0, 3)}-${randomBytes(8).toString('base64url').slice(0, 11)}`;

/** Opaque list cursor: the offset, so a client cannot tell it is one. */
const encodeToken = (offset: number) => Buffer.from(`o:${offset}`).toString('base64url');
function decodeToken(token: string | undefined): number {
  if (!token) return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m) throw errors.invalidArgument('Expected a NextToken from a previous response for NextToken.');
  return Number(m[1]);
}

// Shared with the Redis-backed service (redis-service.ts): one validation, one listing order, one pipeline.

export function pageOf<T>(items: T[], request: ListRequest): { items: T[]; nextToken: string } {
  const offset = decodeToken(request.nextToken);
  const slice = items.slice(offset, offset + request.maxResults);
  return { items: slice, nextToken: offset + slice.length < items.length ? encodeToken(offset + slice.length) : '' };
}

/** ListTasks' filters and order over one project's tasks. */
export function selectTasks(tasks: Iterable<TaskRecord>, request: ListTasksRequest): TaskRecord[] {
  const key = request.sort;
  return [...tasks]
    .filter((t) => t.ProjectName === request.projectName)
    .filter((t) => !request.taskTypes?.length || request.taskTypes.includes(t.TaskType))
    .filter((t) => !request.status || t.Status === request.status)
    .filter((t) => Object.entries(request.tagSelector).every(([k, v]) => t.Tags[k] === v))
    .sort((a, b) => {
      const cmp = (a[key] ?? '').localeCompare(b[key] ?? '') || a.TaskId.localeCompare(b.TaskId);
      return request.order === 'asc' ? cmp : -cmp;
    });
}

async function bucketExists(outputStore: ObjectStore, bucket: string): Promise<boolean> {
  try {
    await outputStore.stat(bucket, '.stillframe-bucket-check');
    return true;
  } catch (err) {
    if (err instanceof AppError && err.code === 'NoSuchBucket') return false;
    if (err instanceof AppError && err.status === 404) return true;
    throw err;
  }
}

/** The checks that need I/O, so that an accepted task can only fail for reasons found at run time. */
export async function validateResources(store: ObjectStore, outputStore: ObjectStore, request: ConvertTaskRequest, createdAt: Date) {
  for (const source of request.sources) {
    try {
      const stat = await store.stat(source.bucket, source.key);
      if (stat.size === 0) throw errors.invalidArgument(`${source.field}.URI: ${source.uri} is empty.`);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw errors.resourceNotFound(`${source.field}.URI: ${source.uri} does not exist.`);
      throw err;
    }
  }
  if (outputStore.readOnly) {
    throw errors.invalidArgument(`Targets: outputs cannot be written to ${outputStore.description}, which is read-only: set STILLFRAME_OUTPUT_STORAGE.`);
  }
  const checked = new Set<string>();
  for (const source of request.sources) {
    for (const spec of request.snapshots) {
      const { bucket } = outputUri(spec, source, { index: 1, createdAt, sourceModified: createdAt, tags: request.tags });
      if (checked.has(bucket)) continue;
      checked.add(bucket);
      if (!(await bucketExists(outputStore, bucket))) throw errors.resourceNotFound(`${spec.field}.URI: the bucket "${bucket}" does not exist.`);
    }
  }
}

/** A new accepted task's record (Status Running, no outputs yet). */
export function newTaskRecord(request: ConvertTaskRequest, createdAt: Date): TaskRecord {
  return {
    ProjectName: request.projectName,
    TaskId: `MediaConvert-${randomUUID()}`,
    TaskType: 'MediaConvert',
    EventId: newEventId(),
    Status: 'Running',
    Code: '',
    Message: '',
    CreateTime: createdAt.toISOString(),
    Progress: 0,
    ...(request.userData !== undefined && { UserData: request.userData }),
    Tags: request.tags,
    Definition: request.definition,
    ...(request.topic !== undefined && { Topic: request.topic }),
    Outputs: [],
    Notified: false,
    Attempts: 0,
  };
}

/** A new project's record. */
export function newProjectRecord(request: CreateProjectRequest): ProjectRecord {
  const now = new Date().toISOString();
  return {
    ProjectName: request.projectName,
    ...(request.description !== undefined && { Description: request.description }),
    ...(request.serviceRole !== undefined && { ServiceRole: request.serviceRole }),
    ...(request.templateId !== undefined && { TemplateId: request.templateId }),
    Tags: request.tags,
    CreateTime: now,
    UpdateTime: now,
  };
}

type TaskResult = Pick<TaskRecord, 'Status' | 'Code' | 'Message'>;

/** Where one attempt of a task records what it does (the embedded journal, or Redis). */
export interface AttemptRecorder {
  /** Every forward step; `persist` at most every 200 ms, since progress is cheap to lose. */
  progress(percent: number, persist: boolean): void;
  output(output: OutputRecord): Promise<void>;
}

/**
 * One attempt of a task through the shared pipeline, the same for both services: the plan re-parsed
 * with the parser that accepted it, frames extracted and written, errors mapped to the task's result.
 * 'interrupted' = shutdown aborted it: the task stays Running and runs again (after the restart, or on
 * another node).
 */
export async function attemptTask(
  deps: TaskServiceDeps,
  outputStore: ObjectStore,
  extracted: { inc(labels: Record<string, string>, by?: number): void },
  task: TaskRecord,
  run: { signal: AbortSignal; closing: () => boolean; record: AttemptRecorder },
): Promise<{ result: TaskResult | 'interrupted'; progress: number }> {
  const { log } = deps;
  const id = task.TaskId;
  let progress = task.Progress;
  let lastWrite = 0;
  // Task latency: one attempt, start to result (the same histogram object on every call).
  const attemptSeconds = deps.metrics.histogram('stillframe_task_seconds', 'One IMM task attempt from start to result, by status (Succeeded, Failed, Interrupted)', [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800], ['status']);
  const started = performance.now();
  const timed = <T extends { result: TaskResult | 'interrupted' }>(outcome: T): T => {
    attemptSeconds.observe((performance.now() - started) / 1000, { status: outcome.result === 'interrupted' ? 'Interrupted' : outcome.result.Status });
    return outcome;
  };
  try {
    // The same parser as at submission: what was valid then is the plan now.
    const request = parseConvertTask(task.Definition, deps.limits, new Date(task.CreateTime));
    await executeTask(
      {
        store: deps.store,
        outputStore,
        capture: deps.capture,
        runner: deps.runner,
        limiter: deps.limiter,
        quality: deps.quality,
        maxFramesPerTask: deps.limits.maxFramesPerTask,
        ffmpegTimeoutMs: deps.ffmpegTimeoutMs,
        strategy: deps.strategy,
        log,
        onSpawn: deps.onFfmpegSpawn,
        onReport(report, frames) {
          extracted.inc({ path: report.strategy }, frames - report.fallbacks);
          if (report.fallbacks) extracted.inc({ path: 'fallback' }, report.fallbacks);
        },
      },
      {
        taskId: id,
        request,
        createdAt: new Date(task.CreateTime),
        done: new Set(task.Outputs.map((o) => o.URI)),
        signal: run.signal,
        onProgress(percent) {
          if (percent <= progress) return;
          progress = percent;
          const now = Date.now();
          const persist = now - lastWrite >= 200;
          if (persist) lastWrite = now;
          run.record.progress(percent, persist);
        },
        onOutput: (output) => run.record.output(output),
      },
    );
    return timed({ result: { Status: 'Succeeded', Code: '', Message: '' }, progress: 100 });
  } catch (err) {
    if (run.signal.aborted && run.closing()) {
      log.info('task interrupted by shutdown', { taskId: id });
      return timed({ result: 'interrupted' as const, progress });
    }
    const appError = err instanceof AbortedError ? new AppError(400, 'TaskCanceled', 'The task was canceled.') : toAppError(err);
    if (appError.status >= 500) log.error('task failed', { taskId: id, err: appError.cause ?? err });
    else log.info('task failed', { taskId: id, code: appError.code, message: appError.message });
    return timed({ result: { Status: 'Failed', Code: appError.code, Message: appError.message }, progress });
  }
}

/** The IMM completion message of a finished task. */
export function completionMessage(task: TaskRecord) {
  const definition = task.Definition;
  return immMessage(task.TaskType, `acs:imm::stillframe:project/${task.ProjectName}/task/${task.TaskId}`, {
    ProjectName: task.ProjectName,
    TaskId: task.TaskId,
    TaskType: task.TaskType,
    Status: task.Status,
    Code: task.Code,
    Message: task.Message,
    StartTime: task.StartTime,
    EndTime: task.EndTime,
    UserData: task.UserData ?? '',
    Sources: definition.Sources,
    Targets: definition.Targets,
    Outputs: task.Outputs,
  });
}

export async function createTaskService(deps: TaskServiceDeps): Promise<TaskService> {
  const { log, store } = deps;
  const outputStore = deps.outputStore ?? store;
  const journal = await Journal.open({ dir: deps.stateDir, retentionMs: deps.retentionDays * 86_400_000, log });
  const notifier = createNotifier({ ...deps.webhooks, log });
  const closing = new AbortController();
  const queue: string[] = [];
  const running = new Map<string, AbortController>();
  const idleWaiters: (() => void)[] = [];
  let paused = false;
  let closed = false;

  const finished = deps.metrics.counter('stillframe_tasks_total', 'IMM tasks finished by status');
  const extracted = deps.metrics.counter('stillframe_task_frames_total', 'Frames task extraction decoded, by path (pass, seek, fallback)');
  deps.metrics.gauge('stillframe_tasks_running', 'IMM tasks running', () => running.size);
  deps.metrics.gauge('stillframe_tasks_queued', 'IMM tasks waiting to run', () => queue.length);

  const checkIdle = () => {
    if (queue.length || running.size) return;
    for (const w of idleWaiters.splice(0)) w();
  };

  const requireProject = (name: string, field = 'ProjectName') => {
    const project = journal.projects.get(name);
    if (!project) throw errors.resourceNotFound(`${field}: the project "${name}" does not exist.`);
    return project;
  };

  function pump() {
    while (!paused && !closed && running.size < deps.concurrency && queue.length) {
      const id = queue.shift()!;
      const task = journal.tasks.get(id);
      if (!task || task.Status !== 'Running') continue;
      const controller = new AbortController();
      running.set(id, controller);
      void runTask(task, controller.signal).finally(() => {
        running.delete(id);
        pump();
        checkIdle();
      });
    }
    checkIdle();
  }

  async function runTask(task: TaskRecord, signal: AbortSignal) {
    const id = task.TaskId;
    const started = new Date();
    await journal.patchTask(id, { StartTime: task.StartTime ?? started.toISOString(), Attempts: task.Attempts + 1 }, true);
    log.info('task started', { taskId: id, project: task.ProjectName, attempt: task.Attempts });
    const { result } = await attemptTask(deps, outputStore, extracted, task, {
      signal,
      closing: () => closed,
      record: {
        progress(percent, persist) {
          if (persist) void journal.patchTask(id, { Progress: percent }, false);
          else task.Progress = percent;
        },
        output: (output) => journal.addOutput(id, output),
      },
    });
    // Interrupted by shutdown: the task stays Running in the journal and runs again after the restart.
    if (result !== 'interrupted') await finish(id, result);
  }

  async function finish(id: string, result: TaskResult) {
    const task = journal.tasks.get(id);
    if (!task) return;
    await journal.patchTask(id, { ...result, Progress: result.Status === 'Succeeded' ? 100 : task.Progress, EndTime: new Date().toISOString() }, true);
    finished.inc({ status: result.Status });
    log.info('task finished', { taskId: id, status: result.Status, outputs: task.Outputs.length, code: result.Code || undefined });
    void notify(id);
  }

  async function notify(id: string) {
    const task = journal.tasks.get(id);
    if (!task || task.Notified || task.Status === 'Running') return;
    if (task.Topic) {
      await notifier.deliver(task.Topic, completionMessage(task), closing.signal);
      // Interrupted by shutdown: leave it un-notified, so the restart delivers it.
      if (closing.signal.aborted) return;
    }
    if (journal.tasks.has(id)) await journal.patchTask(id, { Notified: true }, true);
  }

  // Recovery: every task accepted but not finished runs again, oldest first; finished tasks whose
  // notification was not confirmed are notified again.
  const unfinished = [...journal.tasks.values()].filter((t) => t.Status === 'Running').sort((a, b) => a.CreateTime.localeCompare(b.CreateTime));
  for (const task of unfinished) queue.push(task.TaskId);
  if (unfinished.length) log.info('recovering unfinished tasks', { count: unfinished.length });
  for (const task of journal.tasks.values()) if (task.Status !== 'Running' && !task.Notified) void notify(task.TaskId);
  const sweeper = setInterval(() => void journal.sweep().catch((err: unknown) => log.error('task journal sweep failed', { err })), 3_600_000);
  sweeper.unref();
  queueMicrotask(pump);

  const service: TaskService = {
    async createProject(request) {
      if (journal.projects.has(request.projectName)) {
        throw errors.resourceAlreadyExists(`ProjectName: the project "${request.projectName}" already exists.`);
      }
      const project = newProjectRecord(request);
      await journal.putProject(project);
      return project;
    },
    getProject: (name) => requireProject(name),
    listProjects(request) {
      const all = [...journal.projects.values()]
        .filter((p) => !request.prefix || p.ProjectName.startsWith(request.prefix))
        .sort((a, b) => a.ProjectName.localeCompare(b.ProjectName));
      const { items, nextToken } = pageOf(all, request);
      return { projects: items, nextToken };
    },
    async deleteProject(name) {
      requireProject(name);
      for (const task of [...journal.tasks.values()].filter((t) => t.ProjectName === name)) {
        running.get(task.TaskId)?.abort();
        await journal.deleteTask(task.TaskId);
      }
      await journal.deleteProject(name);
    },
    async ensureProject(name, description) {
      if (journal.projects.has(name)) return;
      await service.createProject({ projectName: name, description, serviceRole: undefined, templateId: undefined, tags: {} });
    },
    async submit(params) {
      if (closed) throw errors.saturated(5);
      const createdAt = new Date();
      const request = parseConvertTask(params, deps.limits, createdAt);
      requireProject(request.projectName);
      await validateResources(store, outputStore, request, createdAt);
      const task = newTaskRecord(request, createdAt);
      // Durable before the TaskId leaves the server: an accepted task survives any crash after this.
      await journal.putTask(task);
      log.info('task accepted', { taskId: task.TaskId, project: task.ProjectName, sources: request.sources.length, snapshots: request.snapshots.length });
      queue.push(task.TaskId);
      pump();
      return journal.tasks.get(task.TaskId)!;
    },
    getTask(projectName, taskId) {
      requireProject(projectName);
      const task = journal.tasks.get(taskId);
      if (!task || task.ProjectName !== projectName) throw errors.noSuchTask(projectName, taskId);
      return task;
    },
    listTasks(request) {
      requireProject(request.projectName);
      const { items, nextToken } = pageOf(selectTasks(journal.tasks.values(), request), request);
      return { tasks: items, nextToken };
    },
    idle() {
      if (!queue.length && !running.size) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    pause() {
      paused = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      clearInterval(sweeper);
      for (const controller of running.values()) controller.abort();
      const deadline = Date.now() + 5000;
      while (running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await journal.close();
      for (const w of idleWaiters.splice(0)) w();
    },
    get running() {
      return running.size;
    },
    get queued() {
      return queue.length;
    },
  };
  return service;
}
