// Real processes the tests start on loopback — `stillframe serve` as a user runs it, and the servers it
// works with (redis-server, nginx) — registered so that one stopAll() in afterAll/afterEach stops them
// and removes their temporary directories.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './wait.js';
import type { Json } from './json.js';

export const BIN = resolve(import.meta.dirname, '../../bin/stillframe.js');

const children: ChildProcess[] = [];
/** Processes whose own children must be stopped by them (nginx's workers): SIGTERM, awaited. */
const graceful = new WeakSet<ChildProcess>();
const dirs: string[] = [];

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Stops every process started here (SIGKILL; graceful ones SIGTERM first) and removes temporary directories. */
export async function stopAll(): Promise<void> {
  for (const child of children.splice(0)) {
    if (!running(child)) continue;
    if (graceful.has(child)) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (running(child)) child.kill('SIGKILL');
    } else child.kill('SIGKILL');
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A temporary directory that stopAll() removes. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `stillframe-${prefix}-`));
  dirs.push(dir);
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** The first of `candidates` that exists, else undefined. */
export function findBinary(...candidates: string[]): string | undefined {
  for (const c of candidates) {
    if (c.includes('/')) {
      if (existsSync(c)) return c;
    } else {
      const found = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim();
      if (found) return found;
    }
  }
  return undefined;
}

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
}

export function startProcess(command: string, args: string[], env: Record<string, string | undefined> = {}, options: { graceful?: boolean } = {}): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  if (options.graceful) graceful.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

export interface Node extends Proc {
  url: string;
  /** SIGTERM, then the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/**
 * `node bin/stillframe.js serve` with `env` (defaults: loopback, log level info, no demo media) on `port` (0 = any);
 * resolves once it prints the address it serves on.
 */
export async function startServe(env: Record<string, string | undefined>, port = 0): Promise<Node> {
  const proc = startProcess(process.execPath, [BIN, 'serve', '--port', String(port)], { HOST: '127.0.0.1', STILLFRAME_LOG_LEVEL: 'info', STILLFRAME_DEMO: 'false', ...env });
  // Generous: with STILLFRAME_DEMO the sample media are made first, slow on a loaded machine.
  await waitFor(async () => /serving .* on (http:\/\/\S+)/.test(proc.output()) || proc.child.exitCode !== null, 180_000);
  const url = /serving .* on (http:\/\/\S+)/.exec(proc.output())?.[1];
  if (!url) throw new Error(`stillframe did not start:\n${proc.output()}`);
  const { child } = proc;
  return {
    ...proc,
    url,
    stop: () =>
      new Promise<void>((done) => {
        if (!running(child)) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** An IMM action against a server (JSON body: the unsigned convenience transport). */
export async function rpc(url: string, action: string, params: Record<string, unknown>): Promise<Json> {
  const res = await fetch(`${url}/?Action=${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return (await res.json()) as Json;
}

/** JSON log lines of a node's output with `msg`. */
export function logLines(output: string, msg: string): Json[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Json;
      } catch {
        return {};
      }
    })
    .filter((l) => l.msg === msg);
}

/** Resident set size of a process, bytes. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Live capture workers (src/media/engine/worker) whose parent is `parent`: a server's worker processes. */
export async function workerPids(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^\d+ \(.*\) (\S) (\d+)/.exec(await readFile(`/proc/${entry}/stat`, 'utf8'));
      if (!m || Number(m[2]) !== parent || m[1] === 'Z') continue;
      if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes('engine/worker')) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Paths of the files a process has open (its file descriptors that name a file). */
export async function openFiles(pid: number): Promise<string[]> {
  const paths: string[] = [];
  try {
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      try {
        const target = await readlink(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('/')) paths.push(target);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // exited
  }
  return paths;
}
