// The IMM task service, one for both backends (backend.ts: the embedded journal, or Redis + BullMQ):
// projects; submission of a request the route has parsed (checked against the project, the sources and
// the output buckets, then recorded durably before the TaskId is returned); the runs the backend's queue
// hands over (the accepted request re-derived from its definition, executed by execute.ts); ending each
// task exactly once (the backend's compare-and-set), then counting and notifying it; shutdown.
// HTTP routes and the CLI only translate to it.
import type { Capture } from '../core/capture.js';
import type { Metrics } from '../core/metrics.js';
import { AbortedError, AppError, errors, toAppError } from '../errors.js';
import type { Quality } from '../image/render.js';
import type { Logger } from '../log.js';
import {
  outputSpecs,
  outputUri,
  type ConvertTaskRequest,
  type CreateProjectRequest,
  type ListRequest,
  type ListTasksRequest,
  type RequestLimits,
} from '../process/imm-request.js';
import type { ObjectStore } from '../source/store.js';
import type { TaskBackend, TaskRunner } from './backend.js';
import { executeTask } from './execute.js';
import { createNotifier, type NotifierOptions } from './notifier.js';
import {
  acceptedRequest,
  completionMessage,
  newProjectRecord,
  newTaskRecord,
  pageOf,
  selectProjects,
  selectTasks,
  type ProjectRecord,
  type TaskEnding,
  type TaskRecord,
} from './records.js';

export interface TaskServiceDeps {
  store: ObjectStore;
  /** Where outputs are written; default `store` (set when the main store is a read-only origin). */
  outputStore?: ObjectStore;
  capture: Capture;
  metrics: Metrics;
  log: Logger;
  limits: RequestLimits;
  /** Encoding quality of sprite sheets and WebP animations (the server's settings). */
  quality: Quality;
  webhooks: Omit<NotifierOptions, 'log'>;
}

export interface TaskService {
  createProject(request: CreateProjectRequest): Promise<ProjectRecord>;
  getProject(name: string): Promise<ProjectRecord>;
  listProjects(request: ListRequest & { prefix: string | undefined }): Promise<{ projects: ProjectRecord[]; nextToken: string }>;
  deleteProject(name: string): Promise<void>;
  /** Creates the project if missing (sample setups). */
  ensureProject(name: string, description?: string): Promise<void>;
  /** Checks what needs I/O (project, sources, output buckets), records durably, queues. */
  submit(request: ConvertTaskRequest): Promise<TaskRecord>;
  getTask(projectName: string, taskId: string): Promise<TaskRecord>;
  listTasks(request: ListTasksRequest): Promise<{ tasks: TaskRecord[]; nextToken: string }>;
  /** Resolves when no task is queued or running (tests, CLI). */
  idle(): Promise<void>;
  /** Stop starting queued tasks (graceful shutdown): they stay recorded and run after the restart. */
  pause(): void;
  close(): Promise<void>;
  /** Tasks running in this process. */
  readonly running: number;
  readonly queued: number;
}

type TaskResult = Pick<TaskEnding, 'Status' | 'Code' | 'Message'>;

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
async function validateResources(store: ObjectStore, outputStore: ObjectStore, request: ConvertTaskRequest) {
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
  const { createdAt } = request;
  const checked = new Set<string>();
  for (const source of request.sources) {
    for (const spec of outputSpecs(request)) {
      const { bucket } = outputUri(spec, source, { index: 1, createdAt, sourceModified: createdAt, tags: request.tags });
      if (checked.has(bucket)) continue;
      checked.add(bucket);
      if (!(await bucketExists(outputStore, bucket))) throw errors.resourceNotFound(`${spec.field}.URI: the bucket "${bucket}" does not exist.`);
    }
  }
}

export async function createTaskService(deps: TaskServiceDeps, backend: TaskBackend): Promise<TaskService> {
  const { log, store } = deps;
  const outputStore = deps.outputStore ?? store;
  const notifier = createNotifier({ ...deps.webhooks, log });
  const closing = new AbortController();
  const running = new Map<string, AbortController>();
  let closed = false;

  const finished = deps.metrics.counter('stillframe_tasks_total', 'IMM tasks finished by status', ['status']);
  const extracted = deps.metrics.counter('stillframe_task_frames_total', 'Frames of task extractions: wanted, and decoded to get them', ['counted']);
  const attemptSeconds = deps.metrics.histogram('stillframe_task_seconds', 'One IMM task attempt from start to result, by status (Succeeded, Failed, Interrupted)', [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800], ['status']);
  deps.metrics.gauge('stillframe_tasks_running', 'IMM tasks running on this node', () => running.size);
  deps.metrics.gauge('stillframe_tasks_queued', 'IMM tasks waiting to run (with Redis: in the shared queue, last count)', () => backend.queued);

  async function requireProject(name: string): Promise<ProjectRecord> {
    const project = await backend.getProject(name);
    if (!project) throw errors.resourceNotFound(`ProjectName: the project "${name}" does not exist.`);
    return project;
  }

  /**
   * One attempt of a task: the accepted request re-derived from its definition, then the pipeline
   * (execute.ts), errors mapped to the task's result. 'interrupted' = shutdown aborted it.
   */
  async function attempt(task: TaskRecord, signal: AbortSignal): Promise<{ result: TaskResult | 'interrupted'; progress: number }> {
    const id = task.TaskId;
    let progress = task.Progress;
    let lastWrite = 0;
    try {
      await executeTask(
        {
          store,
          outputStore,
          capture: deps.capture,
          maxFramesPerTask: deps.limits.maxFramesPerTask,
          quality: deps.quality,
          log,
          onReport(report, frames) {
            extracted.inc({ counted: 'wanted' }, frames);
            extracted.inc({ counted: 'decoded' }, report.decoded);
          },
        },
        {
          taskId: id,
          request: acceptedRequest(task, deps.limits),
          done: new Set(task.Outputs.map((o) => o.URI)),
          signal,
          onProgress(percent) {
            if (percent <= progress) return;
            progress = percent;
            const now = Date.now();
            const persist = now - lastWrite >= 200;
            if (persist) lastWrite = now;
            backend.progress(id, percent, persist);
          },
          onOutput: (output) => backend.addOutput(id, output),
        },
      );
      return { result: { Status: 'Succeeded', Code: '', Message: '' }, progress: 100 };
    } catch (err) {
      if (signal.aborted && closed) {
        log.info('task interrupted by shutdown', { taskId: id });
        return { result: 'interrupted', progress };
      }
      const appError = err instanceof AbortedError ? errors.taskCanceled() : toAppError(err);
      if (appError.status >= 500) log.error('task failed', { taskId: id, err: appError.cause ?? err });
      else log.info('task failed', { taskId: id, code: appError.code, message: appError.message });
      return { result: { Status: 'Failed', Code: appError.code, Message: appError.message }, progress };
    }
  }

  /** Ends a task if it is still Running (whichever attempt or node gets there first), then counts and notifies it once. */
  async function finish(id: string, result: TaskResult, progress: number | undefined) {
    const ending: TaskEnding = { ...result, EndTime: new Date().toISOString(), Progress: result.Status === 'Succeeded' ? 100 : progress };
    const task = await backend.finish(id, ending);
    if (!task) return;
    finished.inc({ status: result.Status });
    log.info('task finished', { taskId: id, status: result.Status, outputs: task.Outputs.length, code: result.Code || undefined });
    void notify(task);
  }

  async function notify(task: TaskRecord) {
    try {
      if (task.Topic) {
        await notifier.deliver(task.Topic, completionMessage(task), closing.signal);
        // Interrupted by shutdown: left un-notified, so a restart (of the embedded journal) delivers it.
        if (closing.signal.aborted) return;
      }
      await backend.markNotified(task.TaskId);
    } catch (err) {
      log.warn('task notification not recorded', { taskId: task.TaskId, err });
    }
  }

  const runner: TaskRunner = {
    async run(id) {
      if (closed) return 'interrupted';
      const task = await backend.startAttempt(id);
      if (!task) return 'done'; // deleted, or ended by an earlier attempt
      const controller = new AbortController();
      running.set(id, controller);
      try {
        log.info('task started', { taskId: id, project: task.ProjectName, attempt: task.Attempts });
        const started = performance.now();
        const { result, progress } = await attempt(task, controller.signal);
        attemptSeconds.observe((performance.now() - started) / 1000, { status: result === 'interrupted' ? 'Interrupted' : result.Status });
        // Interrupted: the task stays Running; the backend queues it again.
        if (result === 'interrupted') return 'interrupted';
        await finish(id, result, progress);
        return 'done';
      } finally {
        running.delete(id);
      }
    },
    abandon: (id, reason) => finish(id, { Status: 'Failed', Code: 'InternalError', Message: `The task could not be run: ${reason}` }, undefined),
  };

  // Recovery: the backend queues unfinished tasks again; ended ones still owed a notification get it.
  for (const task of await backend.start(runner)) void notify(task);

  const service: TaskService = {
    async createProject(request) {
      const project = newProjectRecord(request);
      if (!(await backend.createProject(project))) {
        throw errors.resourceAlreadyExists(`ProjectName: the project "${request.projectName}" already exists.`);
      }
      return project;
    },
    getProject: (name) => requireProject(name),
    async listProjects(request) {
      const { items, nextToken } = pageOf(selectProjects(await backend.listProjects(), request.prefix), request);
      return { projects: items, nextToken };
    },
    async deleteProject(name) {
      await requireProject(name);
      // Runs of its tasks on this node stop; on another node a run ends on its own (its record is gone).
      for (const id of await backend.deleteProject(name)) running.get(id)?.abort();
    },
    async ensureProject(name, description) {
      if (await backend.getProject(name)) return;
      await backend.createProject(newProjectRecord({ projectName: name, description, serviceRole: undefined, templateId: undefined, tags: {} }));
    },
    async submit(request) {
      if (closed) throw errors.saturated(5);
      await requireProject(request.projectName);
      await validateResources(store, outputStore, request);
      const task = newTaskRecord(request);
      // Durable before the TaskId leaves the server: an accepted task survives any crash after this.
      await backend.addTask(task);
      log.info('task accepted', { taskId: task.TaskId, project: task.ProjectName, sources: request.sources.length, snapshots: request.snapshots.length, sprites: request.sprites.length, animations: request.animations.length });
      return task;
    },
    async getTask(projectName, taskId) {
      await requireProject(projectName);
      const task = await backend.getTask(taskId);
      if (!task || task.ProjectName !== projectName) throw errors.noSuchTask(projectName, taskId);
      return task;
    },
    async listTasks(request) {
      await requireProject(request.projectName);
      const { items, nextToken } = pageOf(selectTasks(await backend.projectTasks(request.projectName), request), request);
      return { tasks: items, nextToken };
    },
    idle: () => backend.idle(),
    pause() {
      backend.pause();
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      backend.pause();
      for (const controller of running.values()) controller.abort();
      const deadline = Date.now() + 5000;
      while (running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await backend.close();
    },
    get running() {
      return running.size;
    },
    get queued() {
      return backend.queued;
    },
  };
  return service;
}
