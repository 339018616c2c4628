// Scale-out (STILLFRAME_REDIS_URL): a real redis-server and two real stillframe processes sharing one
// storage directory. Tasks submitted to node A run on both nodes, node B answers GetTask for them, and a
// SIGKILL of node B mid-task leaves every task Succeeded exactly once, each output present once and whole.
// The tasks are heavy for real (large PNG outputs rendered in capture workers), so a node stopped right
// after it starts one is stopped mid-task.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { fixture, frameAt, readFrameIndex } from '../support/fixtures.js';
import { startRedis } from '../support/fleet.js';
import { findBinary, logLines, rpc, startServe, stopAll, tempDir, workerPids, type Node } from '../support/processes.js';
import { isRunning, waitFor } from '../support/wait.js';
import type { Json } from '../support/json.js';

const TASKS = 30;
const FRAMES = 4; // Interval 2 s over an 8 s video: 0, 2, 4, 6 s
const VIDEO = { container: 'mp4', codec: 'h264', fps: 25, seconds: 8, gop: 25 } as const;

afterAll(stopAll);

/** A node's log lines with `msg`, once its output is complete (the process exited, its pipes drained). */
async function finalLog(node: Node, msg: string): Promise<Json[]> {
  if (node.child.stdout!.readable) await new Promise((r) => node.child.stdout!.once('close', r));
  return logLines(node.output(), msg);
}

/** A fresh redis-server, and a storage root whose bucket `media` holds the test video as v.mp4. */
async function redisAndMedia(name: string) {
  const redis = await startRedis();
  const root = await tempDir(name);
  await mkdir(join(root, 'media'), { recursive: true });
  await copyFile(await fixture(VIDEO), join(root, 'media', 'v.mp4'));
  return { redis, root };
}

const redisServer = findBinary('redis-server', '/usr/bin/redis-server');
if (!redisServer) console.warn('SKIPPED: the two-node tests need redis-server (apt-get install redis-server; .ci/run installs it)');

describe('scale-out settings', () => {
  it('roles other than all need Redis; the embedded default needs nothing', () => {
    expect(loadConfig({}).scale).toEqual({ redisUrl: undefined, role: 'all', lockMs: 30_000, redisPrefix: 'stillframe' });
    expect(() => loadConfig({ STILLFRAME_ROLE: 'worker' })).toThrow(/STILLFRAME_REDIS_URL/);
    expect(() => loadConfig({ STILLFRAME_REDIS_URL: 'http://x' })).toThrow(/redis:\/\//);
    expect(loadConfig({ STILLFRAME_REDIS_URL: 'redis://127.0.0.1:6379/2', STILLFRAME_ROLE: 'api' }).scale.role).toBe('api');
  });
});

describe.skipIf(!redisServer)('two nodes, one Redis', () => {
  it('shares tasks across nodes and survives a SIGKILLed worker with every task done exactly once', async () => {
    const { redis, root } = await redisAndMedia('fleet');
    const shared = {
      STILLFRAME_STORAGE: `file://${root}`,
      STILLFRAME_REDIS_URL: redis.url,
      STILLFRAME_REDIS_LOCK_MS: '2000',
      STILLFRAME_TASK_CONCURRENCY: '2',
    };
    const [a, b] = await Promise.all([
      startServe({ ...shared, STILLFRAME_STATE_DIR: join(root, '.a') }),
      startServe({ ...shared, STILLFRAME_STATE_DIR: join(root, '.b') }),
    ]);
    expect((await rpc(a.url, 'CreateProject', { ProjectName: 'fleet' })).Project?.ProjectName).toBe('fleet');
    // B sees the project A created.
    expect((await rpc(b.url, 'GetProject', { ProjectName: 'fleet' })).Project?.ProjectName).toBe('fleet');

    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const res = await rpc(a.url, 'CreateMediaConvertTask', {
        ProjectName: 'fleet',
        Sources: [{ URI: 'oss://media/v.mp4' }],
        // Four PNG outputs of 1024×768: each task keeps a worker busy for a while.
        Targets: [{ Image: { Snapshots: [{ Format: 'png', Interval: 2, Width: 1024, Height: 768, URI: `oss://media/out/${i}/{index}.png` }] } }],
      });
      expect(res.TaskId, JSON.stringify(res)).toMatch(/^MediaConvert-/);
      ids.push(res.TaskId as string);
    }
    // Any node answers for any task.
    for (const id of ids) expect((await rpc(b.url, 'GetTask', { ProjectName: 'fleet', TaskId: id, TaskType: 'MediaConvert' })).TaskId).toBe(id);
    const listed = await rpc(b.url, 'ListTasks', { ProjectName: 'fleet', MaxResults: 100 });
    expect((listed.Tasks as unknown[]).length).toBe(TASKS);

    // SIGKILL B while it runs a task: one it started and has not finished.
    const unfinished = () => {
      const finished = new Set(logLines(b.output(), 'task finished').map((l) => l.taskId as string));
      return logLines(b.output(), 'task started').filter((l) => !finished.has(l.taskId as string));
    };
    await waitFor(async () => unfinished().length > 0, 20_000);
    const workersOfB = await workerPids(b.child.pid!);
    b.child.kill('SIGKILL');
    const killedAt = Date.now();
    // What B did, from its whole log (lines still in the pipe at the kill included; lines still queued in
    // its logger, up to 10 ms of them, are lost — a task B ended just before the kill may lack its
    // "task finished", which its EndTime tells below).
    const startedOnB = new Set((await finalLog(b, 'task started')).map((l) => l.taskId as string));
    const finishedOnB = new Set((await finalLog(b, 'task finished')).map((l) => l.taskId as string));
    const unlogged = [...startedOnB].filter((id) => !finishedOnB.has(id));
    // B's capture workers see their server gone and exit: none decodes on for nobody.
    expect(workersOfB.length).toBeGreaterThan(0);
    await waitFor(async () => (await Promise.all(workersOfB.map(isRunning))).every((alive) => !alive), 10_000);

    // The API stays up on A, and A finishes everything, including B's interrupted tasks (stalled-job recovery).
    const done = new Map<string, Json>();
    await waitFor(async () => {
      for (const id of ids) {
        if (done.has(id)) continue;
        const task = await rpc(a.url, 'GetTask', { ProjectName: 'fleet', TaskId: id, TaskType: 'MediaConvert' });
        if (task.Status && task.Status !== 'Running') done.set(id, task);
      }
      return done.size === TASKS;
    }, 60_000);
    const endedByB = unlogged.filter((id) => Date.parse(done.get(id)!.EndTime as string) <= killedAt);
    for (const id of endedByB) finishedOnB.add(id);
    const interrupted = unlogged.filter((id) => !endedByB.includes(id));
    expect(interrupted.length).toBeGreaterThan(0);

    const startedOnA = new Set(logLines(a.output(), 'task started').map((l) => l.taskId as string));
    expect(startedOnA.size).toBeGreaterThan(0);
    expect(startedOnB.size).toBeGreaterThan(0);
    for (const id of interrupted) expect(startedOnA.has(id), `interrupted ${id} was rerun on A`).toBe(true);

    for (const [i, id] of ids.entries()) {
      const task = done.get(id)!;
      expect(task.Status, `${id} ${task.Code}: ${task.Message}`).toBe('Succeeded');
      const uris = (task.Outputs as { URI: string }[]).map((o) => o.URI).sort();
      expect(uris).toEqual(Array.from({ length: FRAMES }, (_, n) => `oss://media/out/${i}/${n + 1}.png`).sort());
      // Each output exists once and whole; no stray temporaries became objects.
      const names = (await readdir(join(root, 'media', 'out', String(i)))).filter((n) => !n.startsWith('.')).sort();
      expect(names).toEqual(Array.from({ length: FRAMES }, (_, n) => `${n + 1}.png`).sort());
      for (const name of names) await sharp(join(root, 'media', 'out', String(i), name), { failOn: 'truncated' }).raw().toBuffer();
      // And shows the frame it names (output n at (n - 1) × 2 s), checked for the interrupted tasks and a sample.
      if (interrupted.includes(id) || i % 10 === 0) {
        for (let n = 1; n <= FRAMES; n++) expect(await readFrameIndex(join(root, 'media', 'out', String(i), `${n}.png`)), `${id} #${n}`).toBe(frameAt((n - 1) * 2000));
      }
    }
    // Every task ended once, fleet-wide: A logged one "task finished" per task (B's log ends at the kill).
    await waitFor(async () => logLines(a.output(), 'task finished').length + finishedOnB.size >= TASKS, 5000);
    const finishedOnA = logLines(a.output(), 'task finished').map((l) => l.taskId as string);
    const finishedAnywhere = [...finishedOnA, ...finishedOnB];
    expect(new Set(finishedAnywhere).size).toBe(TASKS);
    expect(finishedAnywhere.length).toBe(TASKS);
  }, 120_000);
});

describe.skipIf(!redisServer)('graceful stop of a worker node', () => {
  it('SIGTERM: the node exits cleanly within its grace period, its interrupted tasks rerun on the other node, each once', async () => {
    const { redis, root } = await redisAndMedia('sigterm');
    const shared = { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_REDIS_URL: redis.url, STILLFRAME_REDIS_LOCK_MS: '2000' };
    // Each task renders eight PNGs of 4096×3072 (seconds of work) and B's grace period is 2 s (running
    // tasks get 1 s of it): SIGTERM must interrupt them.
    const b = await startServe({ ...shared, STILLFRAME_STATE_DIR: join(root, '.b'), STILLFRAME_SHUTDOWN_GRACE_MS: '2000' });
    await rpc(b.url, 'CreateProject', { ProjectName: 'stop' });
    const ids: string[] = [];
    // Two run at once (the default concurrency), the third waits in the queue.
    for (let i = 0; i < 3; i++) {
      const res = await rpc(b.url, 'CreateMediaConvertTask', {
        ProjectName: 'stop',
        Sources: [{ URI: 'oss://media/v.mp4' }],
        Targets: [{ Image: { Snapshots: [{ Format: 'png', Interval: 1, Width: 4096, Height: 3072, URI: `oss://media/stop/${i}/{index}.png` }] } }],
      });
      ids.push(res.TaskId as string);
    }
    await waitFor(async () => logLines(b.output(), 'task started').length > 0, 20_000);
    const workersOfB = await workerPids(b.child.pid!);
    expect(workersOfB.length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((r) => b.child.once('exit', (code) => r(code)));
    const stoppedAt = Date.now();
    b.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const interrupted = (await finalLog(b, 'task interrupted by shutdown')).map((l) => l.taskId as string);
    expect(interrupted.length).toBeGreaterThan(0);
    // Its capture workers went with it (stopped by the node, not left decoding).
    for (const pid of workersOfB) expect(await isRunning(pid)).toBe(false);
    // The interrupted jobs went back to the queue without spending a retry attempt.
    const queue = new Queue('tasks', { connection: { url: redis.url }, prefix: 'stillframe:bull' });
    for (const id of interrupted) {
      const job = await queue.getJob(id);
      expect(await job?.getState()).toBe('waiting');
      expect(job?.attemptsMade).toBe(0);
    }
    await queue.close();

    // A node started afterwards takes over everything, including B's interrupted tasks.
    const a = await startServe({ ...shared, STILLFRAME_STATE_DIR: join(root, '.a') });
    await waitFor(async () => {
      const listed = await rpc(a.url, 'ListTasks', { ProjectName: 'stop', Status: 'Succeeded' });
      return (listed.Tasks as unknown[]).length === ids.length;
    }, 60_000);
    // Each task ended once, fleet-wide (B may finish one within its grace period); B's interrupted ones on A.
    const finishedOnB = logLines(b.output(), 'task finished').map((l) => l.taskId as string);
    await waitFor(async () => logLines(a.output(), 'task finished').length + finishedOnB.length >= ids.length, 5000);
    const finishedOnA = logLines(a.output(), 'task finished').map((l) => l.taskId as string);
    expect([...finishedOnA, ...finishedOnB].sort()).toEqual([...ids].sort());
    for (const id of interrupted) expect(finishedOnA).toContain(id);
    for (const [i] of ids.entries()) {
      const names = (await readdir(join(root, 'media', 'stop', String(i)))).filter((n) => !n.startsWith('.')).sort();
      expect(names).toEqual(Array.from({ length: 8 }, (_, n) => `${n + 1}.png`).sort());
    }
  }, 120_000);
});

describe.skipIf(!redisServer)('roles', () => {
  it('an api node accepts and answers tasks but runs none; a worker node runs them', async () => {
    const { redis, root } = await redisAndMedia('roles');
    // Completion webhooks: one POST per task, from the node that ran it.
    const hooks: Json[] = [];
    const hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(body) as Json);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    const shared = { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_REDIS_URL: redis.url, STILLFRAME_WEBHOOKS: `done=${hookUrl}` };
    const api = await startServe({ ...shared, STILLFRAME_ROLE: 'api', STILLFRAME_STATE_DIR: join(root, '.api') });
    await rpc(api.url, 'CreateProject', { ProjectName: 'roles' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await rpc(api.url, 'CreateMediaConvertTask', {
        ProjectName: 'roles',
        Sources: [{ URI: 'oss://media/v.mp4' }],
        Targets: [{ Image: { Snapshots: [{ Format: 'jpg', StartTime: i, Number: 1, URI: `oss://media/roles/${i}.jpg` }] } }],
        Notification: { MNS: { TopicName: 'done' } },
      });
      ids.push(res.TaskId as string);
    }
    // No worker yet: the tasks wait in the queue.
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) expect((await rpc(api.url, 'GetTask', { ProjectName: 'roles', TaskId: id, TaskType: 'MediaConvert' })).Status).toBe('Running');
    const worker = await startServe({ ...shared, STILLFRAME_ROLE: 'worker', STILLFRAME_STATE_DIR: join(root, '.worker') });
    await waitFor(async () => {
      const listed = await rpc(api.url, 'ListTasks', { ProjectName: 'roles', Status: 'Succeeded' });
      return (listed.Tasks as unknown[]).length === ids.length;
    }, 30_000);
    expect(logLines(api.output(), 'task started')).toHaveLength(0);
    expect(new Set(logLines(worker.output(), 'task started').map((l) => l.taskId))).toEqual(new Set(ids));
    await waitFor(async () => hooks.length >= ids.length, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    hookServer.close();
    const notified = hooks.map((h) => JSON.parse(h.content as string) as Json);
    expect(notified.map((m) => m.TaskId).sort()).toEqual([...ids].sort());
    expect(notified.every((m) => m.Status === 'Succeeded')).toBe(true);
  }, 60_000);
});
