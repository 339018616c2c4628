// Processes the scale-out tests start on loopback: redis-server, stillframe nodes, nginx, Chromium.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '../support/slow-ffmpeg.js';

export const BIN = resolve(import.meta.dirname, '../../bin/stillframe.js');

const children: ChildProcess[] = [];
/** Processes whose own children must be stopped by them (nginx's workers): SIGTERM, awaited. */
const graceful = new WeakSet<ChildProcess>();
const dirs: string[] = [];

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Stops every process started here (SIGKILL; nginx SIGTERM so its workers go too) and removes temporary directories. */
export async function cleanup(): Promise<void> {
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
  output(): string;
}

export function startProcess(command: string, args: string[], env: Record<string, string | undefined> = {}): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

export async function startRedis(): Promise<{ url: string; proc: Proc }> {
  const bin = findBinary('redis-server', '/usr/bin/redis-server');
  if (!bin) throw new Error('redis-server is missing: apt-get install redis-server (.ci/run installs it)');
  const port = await freePort();
  const proc = startProcess(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitFor(async () => /ready to accept connections/i.test(proc.output()) || proc.child.exitCode !== null, 15_000);
  if (proc.child.exitCode !== null) throw new Error(`redis-server did not start:\n${proc.output()}`);
  return { url: `redis://127.0.0.1:${port}`, proc };
}

export interface Node extends Proc {
  url: string;
}

export async function startNode(env: Record<string, string | undefined>, port = 0): Promise<Node> {
  const proc = startProcess(process.execPath, [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    STILLFRAME_LOG_LEVEL: 'info',
    STILLFRAME_DEMO: 'false',
    ...env,
  });
  await waitFor(async () => /serving .* on (http:\/\/\S+)/.test(proc.output()) || proc.child.exitCode !== null, 60_000);
  const url = /serving .* on (http:\/\/\S+)/.exec(proc.output())?.[1];
  if (!url) throw new Error(`stillframe did not start:\n${proc.output()}`);
  return { ...proc, url };
}

export async function rpc(url: string, action: string, params: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await fetch(`${url}/?Action=${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return (await res.json()) as Record<string, any>;
}

/** JSON log lines of a node's output with `msg`. */
export function logLines(output: string, msg: string): Record<string, any>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, any>;
      } catch {
        return {};
      }
    })
    .filter((l) => l.msg === msg);
}

export const SHIPPED_NGINX_CONF = resolve(import.meta.dirname, '../../nginx/nginx.conf');

export function nginxBinary(): string | undefined {
  return findBinary('nginx', '/usr/sbin/nginx');
}

/**
 * The shipped nginx.conf with its two ports substituted (so a developer's own stillframe on 8080 or nginx
 * on 8081 is never touched), run in the foreground under a temporary prefix.
 */
export async function startNginx(upstreamPort: number): Promise<{ url: string; proc: Proc; prefix: string }> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is missing: apt-get install nginx (.ci/run installs it)');
  const { readFile, writeFile, chmod } = await import('node:fs/promises');
  const prefix = await tempDir('nginx');
  // Workers run as an unprivileged user when the master is root: they must reach the cache under the prefix.
  await chmod(prefix, 0o755);
  const listen = await freePort();
  const shipped = await readFile(SHIPPED_NGINX_CONF, 'utf8');
  const conf = shipped.replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstreamPort};`).replace('listen 8081;', `listen 127.0.0.1:${listen};`);
  if (conf === shipped || !conf.includes(String(listen))) throw new Error('nginx.conf no longer has the expected listen/upstream lines');
  const confPath = join(prefix, 'nginx.conf');
  await writeFile(confPath, conf);
  const proc = startProcess(bin, ['-p', prefix, '-c', confPath]);
  graceful.add(proc.child);
  const url = `http://127.0.0.1:${listen}`;
  await waitFor(async () => {
    if (proc.child.exitCode !== null) return true;
    try {
      await fetch(`${url}/_/health`);
      return true;
    } catch {
      return false;
    }
  }, 15_000);
  if (proc.child.exitCode !== null) throw new Error(`nginx did not start:\n${proc.output()}`);
  return { url, proc, prefix };
}

/** Requests stillframe answered for `route` (snapshot, object, ops, imm), from its /_/metrics. */
export async function requestCount(nodeUrl: string, route: string): Promise<number> {
  const text = await (await fetch(`${nodeUrl}/_/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('stillframe_http_requests_total{') && line.includes(`route="${route}"`)) total += Number(line.split(' ').pop());
  }
  return total;
}
