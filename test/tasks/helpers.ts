// Helpers for IMM task tests: a real server (test/support/server.ts) whose task service is closed with
// it, RPC calls in the JSON-body and form encodings, and waiting for a task to end.
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startServer, type TestServer, type TestServerOptions } from '../support/server.js';

export interface TaskServer extends TestServer {
  /** JSON-body call (the `curl -d @req.json` convenience). */
  call(action: string, params?: Record<string, unknown>): Promise<{ status: number; body: Record<string, any> }>;
  /** RPC form call: object parameters as JSON strings, urlencoded, POST /. */
  form(action: string, params?: Record<string, unknown>): Promise<{ status: number; body: Record<string, any> }>;
  /** Submits and waits until the task is no longer Running; returns GetTask's answer. */
  run(request: Record<string, unknown>): Promise<Record<string, any>>;
  wait(taskId: string, projectName?: string): Promise<Record<string, any>>;
  get(path: string): Promise<Response>;
}

export async function startTaskServer(options: TestServerOptions = {}): Promise<TaskServer> {
  const server = await startServer(options);
  const call: TaskServer['call'] = async (action, params = {}) => {
    const res = await fetch(`${server.url}/?Action=${action}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const form: TaskServer['form'] = async (action, params = {}) => {
    const body = new URLSearchParams({ Action: action, Version: '2020-09-30' });
    for (const [k, v] of Object.entries(params)) body.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    const res = await fetch(`${server.url}/`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const wait: TaskServer['wait'] = async (taskId, projectName = 'test-project') => {
    for (;;) {
      const { body } = await call('GetTask', { ProjectName: projectName, TaskId: taskId, TaskType: 'MediaConvert' });
      if (body.Status !== 'Running') return body;
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const close = server.close;
  return {
    ...server,
    call,
    form,
    wait,
    async run(request) {
      const created = await call('CreateMediaConvertTask', request);
      if (created.status !== 200) throw new Error(`CreateMediaConvertTask answered ${created.status}: ${JSON.stringify(created.body)}`);
      return wait(created.body.TaskId as string, request.ProjectName as string);
    },
    get: (path) => fetch(`${server.url}/${path}`),
    async close() {
      await server.deps.tasks.close();
      await close();
    },
  };
}

/** Every file under the storage root except the state directory, as bucket/key paths. */
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

export const snapshotRequest = (source: string, snapshot: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  ProjectName: 'test-project',
  Sources: [{ URI: source }],
  Targets: [{ Image: { Snapshots: [snapshot] } }],
  ...extra,
});
