// Durability: a task accepted (TaskId returned) finishes even if the server stops mid-task — a clean
// close or a SIGKILL of the real process — exactly once per output, and no half-written image is ever
// visible under an output name. The tasks are heavy for real (no sleeps): 32 PNG outputs of 2048×1536,
// each a scale-up and a PNG encoding in a capture worker, so the server stops with most of them to go.
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, frameAt, readFrameIndex } from '../support/fixtures.js';
import { rpc, startServe, stopAll, tempDir, workerPids } from '../support/processes.js';
import { startServer } from '../support/server.js';
import { isRunning, waitFor } from '../support/wait.js';
import type { Json } from '../support/json.js';

const VIDEO = { container: 'mp4', codec: 'h264', fps: 25, seconds: 8, gop: 25 } as const;
const INTERVAL = 0.25;
const FRAMES = 32;
const SIZE = { width: 2048, height: 1536 };
afterEach(stopAll);

async function storageWithVideo(): Promise<string> {
  const root = await tempDir('recovery');
  await mkdir(join(root, 'media'), { recursive: true });
  await copyFile(await fixture(VIDEO), join(root, 'media', 'v.mp4'));
  return root;
}

const request = (dir: string) => ({
  ProjectName: 'test-project',
  Sources: [{ URI: 'oss://media/v.mp4' }],
  Targets: [{ Image: { Snapshots: [{ Format: 'png', Interval: INTERVAL, Width: SIZE.width, Height: SIZE.height, URI: `oss://media/${dir}/{index}.png` }] } }],
});

async function waitTask(url: string, taskId: string, timeoutMs = 60_000): Promise<Json> {
  let task: Json = {};
  await waitFor(async () => {
    task = await rpc(url, 'GetTask', { ProjectName: 'test-project', TaskId: taskId, TaskType: 'MediaConvert' });
    return task.Status !== 'Running';
  }, timeoutMs);
  return task;
}

interface OutputFile {
  name: string;
  ino: number;
  mtimeMs: number;
  size: number;
}

// Files already decoded whole, by path, inode, mtime and size: a file that has not changed is not read again.
const whole = new Set<string>();

/** Output files (dot-files are the store's temporaries, never objects), each checked to be a whole image. */
async function outputFiles(dir: string): Promise<OutputFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const files = [];
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    const path = join(dir, name);
    const s = await stat(path);
    const file = { name, ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
    const seen = `${path}\u0000${s.ino}\u0000${s.mtimeMs}\u0000${s.size}`;
    if (!whole.has(seen)) {
      // A visible output must decode completely: a torn PNG fails here.
      await sharp(path, { failOn: 'truncated' }).raw().toBuffer();
      whole.add(seen);
    }
    files.push(file);
  }
  return files;
}

async function verifyOutputs(url: string, task: Json, dir: string) {
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  const uris = (task.Outputs as { URI: string }[]).map((o) => o.URI);
  expect(new Set(uris).size).toBe(FRAMES);
  expect(uris.sort()).toEqual(Array.from({ length: FRAMES }, (_, i) => `oss://media/${dir}/${i + 1}.png`).sort());
  for (let i = 1; i <= FRAMES; i += 7) {
    const body = Buffer.from(await (await fetch(`${url}/media/${dir}/${i}.png`)).arrayBuffer());
    expect(await sharp(body).metadata()).toMatchObject({ format: 'png', ...SIZE });
    expect(await readFrameIndex(body), `output ${i}`).toBe(frameAt((i - 1) * INTERVAL * 1000));
  }
}

describe('in-process restart', () => {
  it('a task interrupted by close() runs to the end after the next start', async () => {
    const root = await storageWithVideo();
    // Both lives over the same storage and the same task journal.
    const start = () => startServer({ env: { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_STATE_DIR: join(root, '.stillframe') } });

    // First life: closed while the task is a few outputs in.
    const first = await start();
    await first.deps.tasks.createProject({ projectName: 'test-project', description: undefined, serviceRole: undefined, templateId: undefined, tags: {} });
    const { TaskId } = await rpc(first.url, 'CreateMediaConvertTask', request('close'));
    const outDir = join(root, 'media', 'close');
    await waitFor(async () => (await outputFiles(outDir)).length >= 3, 30_000);
    await first.close();
    const before = await outputFiles(outDir);
    expect(before.length).toBeLessThan(FRAMES);

    const second = await start();
    try {
      const task = await waitTask(second.url, TaskId);
      await verifyOutputs(second.url, task, 'close');
      // Outputs recorded before the stop are not written again.
      const after = await outputFiles(outDir);
      expect(after).toHaveLength(FRAMES);
      for (const old of before) expect(after.find((f) => f.name === old.name)).toEqual(old);
    } finally {
      await second.close();
    }
  }, 90_000);
});

describe('SIGKILL', () => {
  it('every accepted task finishes after a restart, once per output, never showing a torn image', async () => {
    const root = await storageWithVideo();
    const env = { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_TASK_CONCURRENCY: '1', STILLFRAME_LOG_LEVEL: 'warn' };
    const first = await startServe(env);
    await rpc(first.url, 'CreateProject', { ProjectName: 'test-project' });
    const running = (await rpc(first.url, 'CreateMediaConvertTask', request('running'))).TaskId as string;
    const queued = (await rpc(first.url, 'CreateMediaConvertTask', request('queued'))).TaskId as string;
    expect([running, queued]).toEqual([expect.stringMatching(/^MediaConvert-/), expect.stringMatching(/^MediaConvert-/)]);

    // Watch the output directory while the task runs: every visible file is a whole image.
    const outDir = join(root, 'media', 'running');
    await waitFor(async () => (await outputFiles(outDir)).length >= 4, 30_000);
    const workers = await workerPids(first.child.pid!);
    expect(workers.length).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    // Its capture workers notice the server is gone and exit: none goes on decoding for nobody.
    await waitFor(async () => (await Promise.all(workers.map(isRunning))).every((alive) => !alive), 10_000);
    const before = await outputFiles(outDir);
    expect(before.length).toBeLessThan(FRAMES);

    const second = await startServe(env);
    let watch = true;
    const watching = (async () => {
      while (watch) {
        await outputFiles(outDir);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const [a, b] = [await waitTask(second.url, running), await waitTask(second.url, queued)];
    await verifyOutputs(second.url, a, 'running');
    await verifyOutputs(second.url, b, 'queued');
    const after = await outputFiles(outDir);
    expect(after).toHaveLength(FRAMES);
    // Only an output written in the instant of the kill (on disk, not yet journaled) may be rewritten.
    const rewritten = before.filter((old) => JSON.stringify(after.find((f) => f.name === old.name)) !== JSON.stringify(old));
    expect(rewritten.length).toBeLessThanOrEqual(1);
    watch = false;
    await watching;
  }, 120_000);
});
