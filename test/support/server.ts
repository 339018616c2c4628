// A real stillframe HTTP server on a random loopback port over a temporary storage root, for
// integration tests: real capture workers (FFmpeg through node-av), real sharp, real sockets.
import { serve, type ServerType } from '@hono/node-server';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { workerPids } from './processes.js';

export interface TestServer {
  url: string;
  root: string;
  deps: Deps;
  /** Capture worker jobs run so far (any outcome), by kind, from /_/metrics. */
  jobs(): Promise<Record<'capture' | 'index' | 'extract' | 'probe', number>>;
  /** Capture workers replaced so far, by reason (crash, timeout, memory, abandoned, recycle). */
  restarts(): Promise<Record<string, number>>;
  /**
   * Pids of this server's capture workers: children of this (test) process running the worker that
   * were not there before the server started. Other servers of the same process must not replace
   * workers meanwhile, or theirs would be counted too.
   */
  workers(): Promise<number[]>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** "bucket/key" → path of a file to copy there, or a Buffer to write. */
  objects?: Record<string, string | Buffer>;
  /** The server's logger (default: silent). */
  log?: Logger;
}

export async function startServer(options: TestServerOptions = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-test-'));
  for (const [name, content] of Object.entries(options.objects ?? {})) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    if (typeof content === 'string') await copyFile(content, path);
    else await writeFile(path, content);
  }
  const config = loadConfig({
    STILLFRAME_STORAGE: `file://${root}`,
    STILLFRAME_DEMO: 'false',
    ...options.env,
  });
  const foreign = new Set(await workerPids(process.pid));
  const deps = await createDeps(config, { log: options.log ?? silentLogger });
  const app = createApp(deps);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    root,
    deps,
    jobs: () => workerJobs(url),
    restarts: () => workerRestarts(url),
    workers: async () => (await workerPids(process.pid)).filter((pid) => !foreign.has(pid)),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await deps.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Capture worker jobs a server has run (any outcome), by kind. */
export async function workerJobs(url: string): Promise<Record<'capture' | 'index' | 'extract' | 'probe', number>> {
  const text = await (await fetch(`${url}/_/metrics`)).text();
  const count = (kind: string) =>
    [...text.matchAll(new RegExp(`^stillframe_worker_jobs_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  return { capture: count('capture'), index: count('index'), extract: count('extract'), probe: count('probe') };
}

/** Sum of the samples of metric `name` whose labels include `labels`, from a server's /_/metrics. */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/_/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[2]);
  }
  return total;
}

/** Capture workers a server has replaced, by reason (stillframe_worker_restarts_total). */
export async function workerRestarts(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/_/metrics`)).text();
  const restarts: Record<string, number> = {};
  for (const m of text.matchAll(/^stillframe_worker_restarts_total\{[^}]*reason="(\w+)"[^}]*\} (\d+)/gm)) restarts[m[1]!] = (restarts[m[1]!] ?? 0) + Number(m[2]);
  return restarts;
}

export const snapshotUrl = (server: TestServer, object: string, process: string) =>
  `${server.url}/${object}?x-oss-process=${process}`;
