// The server as a user runs it: `node bin/stillframe.js serve` in its own process.
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { slowFfmpeg, waitFor } from '../support/slow-ffmpeg.js';
import { BIN, startServe, stopAll, tempDir } from '../support/processes.js';

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
    expect(output()).toMatch(/"msg":"using ffmpeg"/);
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
    for (const name of ['PORT', 'STILLFRAME_STORAGE', 'STILLFRAME_CACHE_BYTES', 'STILLFRAME_MAX_FFMPEG', 'STILLFRAME_FFMPEG_TIMEOUT_MS']) {
      expect(stdout).toContain(name);
    }
  }, 30_000);

  it('SIGTERM drains: the request in flight completes, then the process exits 0', async () => {
    const root = await tempDir('e2e');
    await mkdir(join(root, 'media'));
    await copyFile(await fixture({ container: 'mp4', codec: 'h264', bframes: 2, gop: 100, seconds: 6 }), join(root, 'media', 'long.mp4'));
    const slow = await slowFfmpeg();
    const { child, url } = await startServe({
      STILLFRAME_STORAGE: `file://${root}`,
      STILLFRAME_DEMO: 'false',
      STILLFRAME_FFMPEG: slow.path,
    });
    const inFlight = fetch(`${url}/media/long.mp4?x-oss-process=video/snapshot,t_2500`);
    await waitFor(async () => (await slow.pids()).length > 0);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await readFrameIndex(Buffer.from(await res.arrayBuffer()))).toBe(62);
    expect(await exited).toBe(0);
  }, 60_000);
});
