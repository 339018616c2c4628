// One contract, two task backends: the embedded journal (a real state directory) and Redis with BullMQ (a
// real redis-server, test/support/fleet.ts). Records, the once-per-URI outputs, the compare-and-set that
// ends a task once, deletion, and the queue: tasks handed to the runner, a run interrupted by shutdown
// handed out again by the next life of the backend.
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { TaskBackend, TaskRunner } from '../../src/tasks/backend.js';
import { createJournalBackend } from '../../src/tasks/journal-backend.js';
import type { OutputRecord, TaskRecord } from '../../src/tasks/records.js';
import { createRedisBackend } from '../../src/tasks/redis-backend.js';
import { findBinary, stopAll, tempDir } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { startRedis } from '../support/fleet.js';

afterAll(stopAll);

let serial = 0;
const task = (project: string, patch: Partial<TaskRecord> = {}): TaskRecord => ({
  ProjectName: project, TaskId: `MediaConvert-${++serial}-${Date.now()}`, TaskType: 'MediaConvert', EventId: 'E', Status: 'Running',
  Code: '', Message: '', CreateTime: new Date(Date.now() + serial).toISOString(), Progress: 0, Tags: { k: 'v' },
  Definition: { ProjectName: project, Sources: [{ URI: 'oss://b/v.mp4' }] }, Topic: 'topic', Outputs: [], Notified: false, Attempts: 0, ...patch,
});
const project = (name: string) => ({ ProjectName: name, Tags: {}, CreateTime: 'c', UpdateTime: 'u' });
const output = (uri: string, size = 1): OutputRecord => ({ URI: uri, Index: 1, SourceIndex: 0, SnapshotIndex: 0, TimeMs: 0, Width: 2, Height: 2, Size: size });
const ending = (progress?: number) => ({ Status: 'Succeeded' as const, Code: '', Message: '', EndTime: new Date().toISOString(), Progress: progress });

/** A runner that records what it is handed and answers per task: a promise to wait on, or an outcome. */
function recordingRunner() {
  const runs: string[] = [];
  const outcome = new Map<string, () => Promise<'done' | 'interrupted'>>();
  const runner: TaskRunner = {
    async run(id) {
      runs.push(id);
      return (await outcome.get(id)?.()) ?? 'done';
    },
    abandon: async () => undefined,
  };
  return { runner, runs, outcome };
}

interface Subject {
  /** A backend over this subject's state; called again (after close()), its next life. */
  open(): Promise<TaskBackend>;
}

let redis: ReturnType<typeof startRedis> | undefined;

const redisServer = findBinary('redis-server', '/usr/bin/redis-server');
if (!redisServer) console.warn('SKIPPED: the Redis task backend tests need redis-server (apt-get install redis-server; .ci/run installs it)');

const subjects: [string, () => Promise<Subject>, boolean][] = [
  [
    'embedded journal',
    async () => {
      const dir = await tempDir('backend');
      return { open: () => createJournalBackend({ dir, retentionDays: 7, concurrency: 2, log: silentLogger }) };
    },
    true,
  ],
  [
    'Redis + BullMQ',
    async () => {
      redis ??= startRedis();
      const { url } = await redis;
      // One redis-server for the file; each subject its own key prefix.
      const prefix = `conformance-${++serial}`;
      return { open: () => createRedisBackend({ url, role: 'all', lockMs: 2000, prefix, retentionDays: 7, concurrency: 2, log: silentLogger }) };
    },
    !!redisServer,
  ],
];

describe.each(subjects)('task backend: %s', (_name, subject, available) => {
  it.runIf(available)('keeps projects and task records; outputs once per URI; progress; notified', async () => {
    const backend = await (await subject()).open();
    try {
      expect(await backend.createProject(project('p'))).toBe(true);
      expect(await backend.createProject({ ...project('p'), UpdateTime: 'other' })).toBe(false);
      await backend.createProject(project('q'));
      expect(await backend.getProject('p')).toEqual(project('p'));
      expect(await backend.getProject('nope')).toBeUndefined();
      expect((await backend.listProjects()).map((p) => p.ProjectName).sort()).toEqual(['p', 'q']);

      const t = task('p');
      await backend.addTask(t);
      await backend.addTask(task('q'));
      expect(await backend.getTask(t.TaskId)).toEqual(t);
      expect((await backend.projectTasks('p')).map((x) => x.TaskId)).toEqual([t.TaskId]);
      expect(await backend.getTask('MediaConvert-none')).toBeUndefined();

      await backend.addOutput(t.TaskId, output('oss://b/1.jpg'));
      await backend.addOutput(t.TaskId, output('oss://b/2.jpg'));
      await backend.addOutput(t.TaskId, output('oss://b/1.jpg', 9));
      backend.progress(t.TaskId, 40, true);
      await waitFor(async () => (await backend.getTask(t.TaskId))!.Progress === 40, 2000);
      const read = (await backend.getTask(t.TaskId))!;
      expect(read.Outputs.map((o) => o.URI)).toEqual(['oss://b/1.jpg', 'oss://b/2.jpg']);

      await backend.finish(t.TaskId, ending(100));
      await backend.markNotified(t.TaskId);
      expect(await backend.getTask(t.TaskId)).toMatchObject({ Status: 'Succeeded', Progress: 100, Notified: true });
    } finally {
      await backend.close();
    }
  });

  it.runIf(available)('starts an attempt only of a Running task; ends a task exactly once', async () => {
    const backend = await (await subject()).open();
    try {
      await backend.createProject(project('p'));
      const t = task('p');
      await backend.addTask(t);
      const first = await backend.startAttempt(t.TaskId);
      expect(first).toMatchObject({ TaskId: t.TaskId, Attempts: 1 });
      expect(Date.parse(first!.StartTime!)).toBeGreaterThan(0);
      const second = await backend.startAttempt(t.TaskId);
      expect([second!.Attempts, second!.StartTime]).toEqual([2, first!.StartTime]);

      backend.progress(t.TaskId, 30, true);
      await waitFor(async () => (await backend.getTask(t.TaskId))!.Progress === 30, 2000);
      // Two endings race (two nodes, or a run and an abandon): one wins, the other changes nothing.
      const failed = { Status: 'Failed' as const, Code: 'InternalError', Message: 'm', EndTime: new Date().toISOString(), Progress: undefined };
      const [a, b] = await Promise.all([backend.finish(t.TaskId, failed), backend.finish(t.TaskId, ending(100))]);
      expect([a?.Status, b]).toEqual(['Failed', undefined]);
      // An ending without a progress keeps the recorded one.
      expect(await backend.getTask(t.TaskId)).toMatchObject({ Status: 'Failed', Code: 'InternalError', Message: 'm', Progress: 30, EndTime: failed.EndTime });
      expect(await backend.startAttempt(t.TaskId)).toBeUndefined();
      expect(await backend.finish(t.TaskId, ending(100))).toBeUndefined();
    } finally {
      await backend.close();
    }
  });

  it.runIf(available)('deletes a project with its tasks; a deleted task neither ends nor comes back', async () => {
    const backend = await (await subject()).open();
    try {
      await backend.createProject(project('gone'));
      const [t1, t2] = [task('gone'), task('gone')];
      await backend.addTask(t1);
      await backend.addTask(t2);
      expect((await backend.deleteProject('gone')).sort()).toEqual([t1.TaskId, t2.TaskId].sort());
      expect(await backend.getProject('gone')).toBeUndefined();
      expect(await backend.getTask(t1.TaskId)).toBeUndefined();
      expect(await backend.projectTasks('gone')).toEqual([]);
      await backend.addOutput(t1.TaskId, output('oss://b/x.jpg'));
      expect(await backend.finish(t1.TaskId, ending(100))).toBeUndefined();
      await backend.markNotified(t1.TaskId);
      expect(await backend.getTask(t1.TaskId)).toBeUndefined();
    } finally {
      await backend.close();
    }
  });

  it.runIf(available)('hands queued tasks to the runner; a run interrupted by shutdown is handed out by the next life', async () => {
    const s = await subject();
    const first = await s.open();
    await first.createProject(project('p'));
    const [done, stopped] = [task('p'), task('p')];
    const one = recordingRunner();
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    one.outcome.set(stopped.TaskId, async () => {
      await holding;
      return 'interrupted';
    });
    expect(await first.start(one.runner)).toEqual([]);
    await first.addTask(done);
    await first.addTask(stopped);
    await waitFor(async () => one.runs.length === 2, 10_000);
    expect(one.runs.sort()).toEqual([done.TaskId, stopped.TaskId].sort());
    // The runner ends the task it ran; the other run is still going when shutdown begins.
    await first.finish(done.TaskId, ending(100));
    first.pause();
    release();
    await waitFor(async () => (await first.getTask(stopped.TaskId))?.Status === 'Running', 2000);
    await new Promise((r) => setTimeout(r, 200));
    await first.close();

    const next = await s.open();
    const two = recordingRunner();
    await next.start(two.runner);
    await waitFor(async () => two.runs.includes(stopped.TaskId), 10_000);
    await next.idle();
    expect(two.runs).toEqual([stopped.TaskId]);
    await next.close();
  });
});
