// No log line is lost however the process ends: a child process logs numbered lines through the server's
// stdout logger behind a stalled reader and then exits (process.exit, an empty event loop, an uncaught
// exception, a non-blocking pipe, the SIGTERM path), and `stillframe serve` stopped by SIGTERM has an
// access line for every request it answered.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logLines, startServe, stopAll, tempDir } from '../support/processes.js';
import type { Json } from '../support/json.js';

afterEach(stopAll);

describe('no line lost at exit', () => {
  const CHILD = resolve(import.meta.dirname, '../support/log-child.mjs');

  /** Runs the child; the reader stalls for `stallMs` first so the pipe fills and writes back up. */
  function runChild(args: string[], options: { stallMs?: number; signalAfterReady?: boolean } = {}) {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: resolve(import.meta.dirname, '../..') });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (options.signalAfterReady && out.includes('"msg":"ready"')) {
        options.signalAfterReady = false;
        child.kill('SIGTERM');
      }
    });
    if (options.stallMs) {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), options.stallMs);
    }
    return new Promise<{ code: number | null; lines: Json[]; stderr: string }>((done) =>
      child.on('close', (code) => done({ code, stderr: err, lines: out.split('\n').filter(Boolean).map(parseLine) })),
    );
  }

  /** A torn or garbled line shows up in the comparison instead of throwing in an event handler. */
  const parseLine = (line: string): Json => {
    try {
      return JSON.parse(line) as Json;
    } catch {
      return { msg: 'line', i: `unparsable: ${line.slice(0, 80)}` };
    }
  };
  const numbered = (lines: Json[]) => lines.filter((l) => l.msg === 'line').map((l) => l.i as number);
  const N = 20_000; // ~5.6 MB: far more than a pipe holds

  it.each([
    ['process.exit() right after logging', 'exit', 0],
    ['the event loop running empty', 'return', 0],
    ['an uncaught exception', 'throw', 1],
  ] as const)('%s, behind a stalled reader', async (_, mode, exitCode) => {
    const { code, lines, stderr } = await runChild([String(N), mode], { stallMs: 300 });
    expect(code, stderr).toBe(exitCode);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 60_000);

  it('process.exit() with a non-blocking stdout pipe (EAGAIN), behind a stalled reader', async () => {
    const { code, lines, stderr } = await runChild([String(N), 'exit', 'nonblocking'], { stallMs: 300 });
    expect(code, stderr).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 60_000);

  it('the SIGTERM path: lines logged by the signal handler, then process.exit(0)', async () => {
    const { code, lines, stderr } = await runChild([String(N), 'sigterm'], { signalAfterReady: true });
    expect(code, stderr).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  }, 60_000);

  it('stillframe serve: every request has its access line when SIGTERM ends the process', async () => {
    const root = await tempDir('log');
    const node = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'info' });
    const K = 300;
    const ids: string[] = [];
    for (let i = 0; i < K; i += 30) {
      const batch = await Promise.all(Array.from({ length: 30 }, (_, j) => fetch(`${node.url}/nobucket/${i + j}.mp4?x-oss-process=video/snapshot,t_0`)));
      for (const res of batch) {
        expect(res.status).toBe(404);
        ids.push(res.headers.get('x-oss-request-id')!);
        await res.arrayBuffer();
      }
    }
    await node.stop();
    expect(node.child.exitCode).toBe(0);
    const access = logLines(node.output(), 'request');
    expect(access.map((l) => l.requestId).sort()).toEqual(ids.sort());
    expect(access.every((l) => l.status === 404 && l.process === 'video/snapshot,t_0')).toBe(true);
    expect(logLines(node.output(), 'stopped')).toHaveLength(1);
    // stdout is JSON lines only (no TTY): the banner went to stderr.
    const stdout = node.output().split('\n').filter((l) => l.startsWith('{'));
    expect(stdout.length).toBeGreaterThan(K);
  }, 60_000);
});
