// The one in-process launcher: a real stillframe HTTP server (createDeps → createApp → @hono/node-server)
// on a random loopback port, for integration tests — real capture workers (FFmpeg through node-av), real
// sharp, real sockets. `stillframe serve` as a child process is test/support/processes.ts's startServe.
//
// Each server gets its own temporary directory: the storage root (objects are written there) unless
// env.STILLFRAME_STORAGE names another store, and the task state (root/.stillframe) unless
// env.STILLFRAME_STATE_DIR names another directory. close() stops HTTP, then the app (task service, nonce
// store, capture workers), then removes the directory.
import { serve, type ServerType } from '@hono/node-server';
import { request } from 'undici';
import type { Hono } from 'hono';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import type { AppEnv } from '../../src/http/context.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { ObjectStore } from '../../src/source/store.js';
import { workerPids } from './processes.js';
import type { Json } from './json.js';

export interface ServerOptions {
  /** Settings, as environment variables (defaults: STILLFRAME_DEMO=false, the storage and state above). */
  env?: Record<string, string | undefined>;
  /** "bucket/key" → path of a file to copy there, or a Buffer to write, under the server's own root. */
  objects?: Record<string, string | Buffer>;
  /** The server's logger (default: silent). */
  log?: Logger;
  /** Stores used instead of the ones the settings name (createDeps overrides). */
  store?: ObjectStore;
  outputStore?: ObjectStore;
  /** Interface to bind (default 127.0.0.1; ali-oss's V1 signing refuses IP endpoints, so its tests use localhost). */
  hostname?: string;
  /** IMM projects created before the server answers. */
  projects?: string[];
}


export interface TestServer {
  /** http://<hostname>:<port> */
  url: string;
  /** The server's temporary directory: its storage root unless env.STILLFRAME_STORAGE names another. */
  root: string;
  deps: Deps;
  /** The Hono app, for in-process requests (app.request) beside the real socket. */
  app: Hono<AppEnv>;
  /** GET (or `init`) of a path under the server: `media/a.mp4`, `media/a.mp4?x-oss-process=…`. */
  get(path: string, init?: RequestInit): Promise<Response>;
  /** An IMM action with a JSON body (the `curl -d @req.json` convenience). */
  call(action: string, params?: Record<string, unknown>): Promise<{ status: number; body: Json }>;
  /** An IMM action as an RPC form: object parameters as JSON strings, urlencoded, POST /. */
  form(action: string, params?: Record<string, unknown>): Promise<{ status: number; body: Json }>;
  /** Polls GetTask until the task is no longer Running; returns GetTask's answer. */
  wait(taskId: string, projectName?: string): Promise<Json>;
  /** CreateMediaConvertTask, then wait(): the ended task. */
  run(request: Record<string, unknown>): Promise<Json>;
  /** Capture worker jobs run so far (any outcome), by kind, from /_/metrics. */
  jobs(): Promise<Record<'capture' | 'index' | 'extract', number>>;
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

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-test-'));
  for (const [name, content] of Object.entries(options.objects ?? {})) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    if (typeof content === 'string') await copyFile(content, path);
    else await writeFile(path, content);
  }
  const config = loadConfig({
    STILLFRAME_STORAGE: `file://${root}`,
    STILLFRAME_STATE_DIR: join(root, '.stillframe'),
    STILLFRAME_DEMO: 'false',
    ...options.env,
  });
  const foreign = new Set(await workerPids(process.pid));
  const deps = await createDeps(config, { log: options.log ?? silentLogger, store: options.store, outputStore: options.outputStore });
  for (const project of options.projects ?? []) await deps.tasks.ensureProject(project);
  const app = createApp(deps);
  const hostname = options.hostname ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname }, () => resolve(s));
  });
  const url = `http://${hostname}:${(server.address() as AddressInfo).port}`;

  const call: TestServer['call'] = async (action, params = {}) => {
    const res = await fetch(`${url}/?Action=${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const form: TestServer['form'] = async (action, params = {}) => {
    const body = new URLSearchParams({ Action: action, Version: '2020-09-30' });
    for (const [k, v] of Object.entries(params)) body.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    const res = await fetch(`${url}/`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const wait: TestServer['wait'] = async (taskId, projectName = 'test-project') => {
    for (;;) {
      const { body } = await call('GetTask', { ProjectName: projectName, TaskId: taskId, TaskType: 'MediaConvert' });
      if (body.Status !== 'Running') return body;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  let closed: Promise<void> | undefined;
  return {
    url,
    root,
    deps,
    app,
    get: (path, init) => fetch(`${url}/${path}`, init),
    call,
    form,
    wait,
    async run(request) {
      const created = await call('CreateMediaConvertTask', request);
      if (created.status !== 200) throw new Error(`CreateMediaConvertTask answered ${created.status}: ${JSON.stringify(created.body)}`);
      return wait(created.body.TaskId as string, request.ProjectName as string);
    },
    jobs: () => workerJobs(url),
    restarts: () => workerRestarts(url),
    workers: async () => (await workerPids(process.pid)).filter((pid) => !foreign.has(pid)),
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
        // The task service first (it interrupts a running task, which stays Running for the next start),
        // then the nonce store and the capture workers.
        await deps.close();
        await rm(root, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** Capture worker jobs a server has run (any outcome), by kind. */
export async function workerJobs(url: string): Promise<Record<'capture' | 'index' | 'extract', number>> {
  const text = await (await fetch(`${url}/_/metrics`)).text();
  const count = (kind: string) =>
    [...text.matchAll(new RegExp(`^stillframe_worker_jobs_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  return { capture: count('capture'), index: count('index'), extract: count('extract') };
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

export const snapshotUrl = (server: TestServer, object: string, process: string) => `${server.url}/${object}?x-oss-process=${process}`;

/** An `x-oss-process` GET/HEAD (the process percent-encoded here): status, headers, body, and an OSS error's fields. */
export async function processCall(server: TestServer, object: string, process: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(snapshotUrl(server, object, encodeURIComponent(process)), { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  const text = body.toString();
  return {
    status: res.statusCode,
    headers: res.headers,
    body,
    code: /<Code>(.*)<\/Code>/.exec(text)?.[1],
    ec: /<EC>(.*)<\/EC>/.exec(text)?.[1],
    message: /<Message>(.*)<\/Message>/.exec(text)?.[1],
  };
}

/** Every file under a storage root except the task state, as bucket/key paths. */
export async function listObjects(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== '.stillframe') await walk(path);
      } else {
        found.push(relative(root, path));
      }
    }
  };
  await walk(root);
  return found.sort();
}

/** A CreateMediaConvertTask request of one source and one snapshot spec, in project test-project. */
export const snapshotRequest = (source: string, snapshot: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  ProjectName: 'test-project',
  Sources: [{ URI: source }],
  Targets: [{ Image: { Snapshots: [snapshot] } }],
  ...extra,
});
