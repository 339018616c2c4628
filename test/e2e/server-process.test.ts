// The server as a user runs it: `node bin/stillframe.js serve` in its own process.
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { SLOW_DECODE, slowDecodeFixture } from '../support/fixtures.js';
import { BIN, logLines, startServe, stopAll, tempDir, workerPids } from '../support/processes.js';
import { metricValue } from '../support/server.js';
import { isRunning, waitFor } from '../support/wait.js';

afterEach(stopAll);

describe('stillframe serve', () => {
  it('starts on an empty directory, makes sample media and prints a URL that shows a frame', async () => {
    const root = await tempDir('e2e');
    const { url, output } = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_DEMO: 'true' });
    const example = /Try: (\S+)/.exec(output())?.[1];
    expect(example).toContain('/demo/sample.mp4?x-oss-process=video/snapshot,t_2000,f_jpg,w_320');
    const res = await fetch(example!);
    expect(res.status).toBe(200);
    expect(await sharp(Buffer.from(await res.arrayBuffer())).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 180 });
    // The capture workers started and said which FFmpeg they run (the node-av build, no binary).
    expect(logLines(output(), 'capture workers ready')).toEqual([expect.objectContaining({ ffmpeg: expect.stringMatching(/^8\./) })]);
    expect((await fetch(`${url}/_/health`)).status).toBe(200);
  }, 90_000);

  it('refuses bad configuration with a message naming the setting', async () => {
    const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT must be an integer between 0 and 65535, got "eighty"');
  }, 30_000);

  it('--help lists every setting', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    await new Promise((r) => child.on('exit', r));
    for (const name of ['PORT', 'STILLFRAME_STORAGE', 'STILLFRAME_CACHE_BYTES', 'STILLFRAME_WORKERS', 'STILLFRAME_DECODE_TIMEOUT_MS', 'STILLFRAME_WORKER_MAX_MEMORY']) {
      expect(stdout).toContain(name);
    }
    // Settings of the ffmpeg-binary era are gone from the list.
    expect(stdout).not.toMatch(/STILLFRAME_(MAX_)?FFMPEG/);
  }, 30_000);

  it('SIGTERM drains: the capture in flight completes, then the process exits 0 and its workers are gone', async () => {
    const root = await tempDir('e2e');
    await mkdir(join(root, 'media'));
    await copyFile(await slowDecodeFixture(), join(root, 'media', 'slow.mp4'));
    const { child, url, output } = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_DEMO: 'false', STILLFRAME_WORKERS: '1' });
    const workers = await workerPids(child.pid!);
    expect(workers).toHaveLength(1);
    // The exact last frame: every frame of the file decoded, about a second or more of the worker's time.
    const inFlight = fetch(`${url}/media/slow.mp4?x-oss-process=video/snapshot,t_${SLOW_DECODE.lastFrameMs}`);
    await waitFor(async () => (await metricValue(url, 'stillframe_workers_busy')) === 1);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-time')).toBe(String(((SLOW_DECODE.seconds * SLOW_DECODE.fps - 1) * 1000) / SLOW_DECODE.fps));
    expect(await sharp(Buffer.from(await res.arrayBuffer()), { failOn: 'truncated' }).metadata()).toMatchObject({ format: 'jpeg', width: 960, height: 540 });
    expect(await exited).toBe(0);
    // It drained rather than hit the grace period, and took its capture workers with it.
    expect(logLines(output(), 'stopped')).toHaveLength(1);
    for (const pid of workers) expect(await isRunning(pid)).toBe(false);
  }, 60_000);
});
