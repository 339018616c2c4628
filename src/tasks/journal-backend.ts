// The embedded task backend (the default): records in the durable journal (journal.ts) of one process,
// and an in-process queue running up to `concurrency` tasks, oldest first. On open every task still
// Running is queued again; on start the ended tasks whose notification was not confirmed are handed
// back to the service; finished tasks past their retention are swept hourly.
import type { Logger } from '../log.js';
import type { TaskBackend, TaskRunner } from './backend.js';
import { Journal } from './journal.js';
import type { TaskRecord } from './records.js';

export interface JournalBackendOptions {
  /** The state directory (STILLFRAME_STATE_DIR), locked for this process. */
  dir: string;
  retentionDays: number;
  /** Tasks run at once. */
  concurrency: number;
  log: Logger;
}

export async function createJournalBackend(options: JournalBackendOptions): Promise<TaskBackend> {
  const { log } = options;
  const journal = await Journal.open({ dir: options.dir, retentionMs: options.retentionDays * 86_400_000, log });
  const queue: string[] = [];
  const active = new Set<string>();
  const idleWaiters: (() => void)[] = [];
  let runner: TaskRunner | undefined;
  let paused = false;
  let closed = false;
  let sweeper: NodeJS.Timeout | undefined;

  // Recovery: every task accepted but not finished runs again, oldest first, once a runner is there.
  const unfinished = [...journal.tasks.values()].filter((t) => t.Status === 'Running').sort((a, b) => a.CreateTime.localeCompare(b.CreateTime));
  for (const task of unfinished) queue.push(task.TaskId);
  if (unfinished.length) log.info('recovering unfinished tasks', { count: unfinished.length });

  const checkIdle = () => {
    if (queue.length || active.size) return;
    for (const w of idleWaiters.splice(0)) w();
  };

  function pump() {
    while (runner && !paused && !closed && active.size < options.concurrency && queue.length) {
      const id = queue.shift()!;
      if (active.has(id) || journal.tasks.get(id)?.Status !== 'Running') continue;
      active.add(id);
      void runner
        .run(id)
        // The task stays Running in the journal: it runs again after the restart.
        .catch((err: unknown) => log.error('task run failed', { taskId: id, err }))
        .finally(() => {
          active.delete(id);
          pump();
          checkIdle();
        });
    }
    checkIdle();
  }

  const ignore = () => undefined; // write errors are logged by the journal itself

  return {
    async createProject(project) {
      if (journal.projects.has(project.ProjectName)) return false;
      await journal.putProject(project);
      return true;
    },
    getProject: async (name) => journal.projects.get(name),
    listProjects: async () => [...journal.projects.values()],
    async deleteProject(name) {
      const ids = [...journal.tasks.values()].filter((t) => t.ProjectName === name).map((t) => t.TaskId);
      for (const id of ids) await journal.deleteTask(id);
      await journal.deleteProject(name);
      return ids;
    },

    async addTask(task) {
      // fsynced before the TaskId leaves the server.
      await journal.putTask(task);
      queue.push(task.TaskId);
      pump();
    },
    getTask: async (id) => journal.tasks.get(id),
    projectTasks: async (projectName) => [...journal.tasks.values()].filter((t) => t.ProjectName === projectName),

    async startAttempt(id) {
      const task = journal.tasks.get(id);
      if (task?.Status !== 'Running') return undefined;
      await journal.patchTask(id, { StartTime: task.StartTime ?? new Date().toISOString(), Attempts: task.Attempts + 1 }, true);
      return task;
    },
    progress(id, percent, persist) {
      if (persist) void journal.patchTask(id, { Progress: percent }, false).catch(ignore);
      else {
        // Readers see every step; the journal gets one line per 200 ms.
        const task = journal.tasks.get(id);
        if (task) task.Progress = percent;
      }
    },
    addOutput: (id, output) => journal.addOutput(id, output),
    async finish(id, ending) {
      const task = journal.tasks.get(id);
      if (task?.Status !== 'Running') return undefined;
      // Applied in memory at once (a second finish sees it ended), then fsynced.
      const { Progress, ...rest } = ending;
      await journal.patchTask(id, { ...rest, Progress: Progress ?? task.Progress }, true);
      return task;
    },
    async markNotified(id) {
      if (journal.tasks.has(id)) await journal.patchTask(id, { Notified: true }, true);
    },

    async start(taskRunner) {
      runner = taskRunner;
      sweeper = setInterval(() => void journal.sweep().catch((err: unknown) => log.error('task journal sweep failed', { err })), 3_600_000);
      sweeper.unref();
      queueMicrotask(pump);
      // Ended tasks whose notification was not confirmed before the last stop.
      return [...journal.tasks.values()].filter((t: TaskRecord) => t.Status !== 'Running' && !t.Notified);
    },
    pause() {
      paused = true;
    },
    idle() {
      if (!queue.length && !active.size) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    get queued() {
      return queue.length;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      await journal.close();
      for (const w of idleWaiters.splice(0)) w();
    },
  };
}
