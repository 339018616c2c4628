// The port under the task service (service.ts): where task and project records live and how queued
// tasks reach a runner. Two adapters: the embedded journal (journal-backend.ts: one process, a file,
// an in-process queue) and Redis with a BullMQ queue (redis-backend.ts: a fleet). Everything else —
// validation, the attempt pipeline, ending a task, notifying, metrics, shutdown — is the service's,
// written once. Records handed out may be live objects: callers read them and never write to them.
import type { OutputRecord, ProjectRecord, TaskEnding, TaskRecord } from './records.js';

/** What the backend calls when its queue hands it a task. Implemented by the service. */
export interface TaskRunner {
  /**
   * Runs one attempt of a queued task to its end. 'interrupted' = stopped by shutdown: the task stays
   * Running and queued, to run again after the restart or on another node.
   */
  run(taskId: string): Promise<'done' | 'interrupted'>;
  /** The queue gave up on the task (its runners kept dying, or the run kept failing): end it Failed. */
  abandon(taskId: string, reason: string): Promise<void>;
}

export interface TaskBackend {
  /** false when a project of that name exists (nothing is written). */
  createProject(project: ProjectRecord): Promise<boolean>;
  getProject(name: string): Promise<ProjectRecord | undefined>;
  listProjects(): Promise<ProjectRecord[]>;
  /** Removes the project, its task records and their queued runs; answers the ids of those tasks. */
  deleteProject(name: string): Promise<string[]>;

  /** Records a new task durably and queues it: when this resolves, the task survives any crash. */
  addTask(task: TaskRecord): Promise<void>;
  getTask(taskId: string): Promise<TaskRecord | undefined>;
  /** Every task record of a project, in no particular order. */
  projectTasks(projectName: string): Promise<TaskRecord[]>;

  /** A run begins: a Running task's Attempts + 1 and its first StartTime; undefined if gone or ended. */
  startAttempt(taskId: string): Promise<TaskRecord | undefined>;
  /** Each forward step of a run; `persist` at most every 200 ms, since progress is cheap to lose. */
  progress(taskId: string, percent: number, persist: boolean): void;
  /** An output written; recorded once per URI, so a rerun skips it. */
  addOutput(taskId: string, output: OutputRecord): Promise<void>;
  /**
   * Compare-and-set: ends the task only if it is still Running and answers its final record, else
   * undefined (already ended, by this node or another, or deleted). A task ends exactly once.
   */
  finish(taskId: string, ending: TaskEnding): Promise<TaskRecord | undefined>;
  /** The completion notification was delivered or given up on. */
  markNotified(taskId: string): Promise<void>;

  /**
   * Starts handing queued tasks to `runner` — those an earlier life left unfinished included — unless
   * this process runs no tasks (Redis role api). Answers the ended tasks whose notification is owed.
   */
  start(runner: TaskRunner): Promise<TaskRecord[]>;
  /** Stops handing out tasks (shutdown): queued ones stay queued, for the restart or another node. */
  pause(): void;
  /** Resolves when no task is queued or running (as far as this backend can see). */
  idle(): Promise<void>;
  /** Tasks waiting to run (for the backend in Redis: the shared queue, last count). */
  readonly queued: number;
  /** Pauses, then releases files and connections. Call after the runs have stopped. */
  close(): Promise<void>;
}
