// What a request logs: one access line carrying the request id (the one in x-oss-request-id) and, for
// IMM actions, the Action wherever it was sent (query, form body, header); failures with their causes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

describe('request logging', () => {
  let server: TestServer;
  const chunks: string[] = [];
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
  const linesOf = (requestId: string) => lines().filter((l) => l.requestId === requestId);

  beforeAll(async () => {
    server = await startServer({ objects: { 'media/a.bin': Buffer.from('hello') }, log: createLogger('debug', { write: (c) => void chunks.push(c) }) });
  });
  afterAll(() => server?.close());

  it('an object GET: one access line with the response request id', async () => {
    const res = await fetch(`${server.url}/media/a.bin`);
    await res.arrayBuffer();
    const id = res.headers.get('x-oss-request-id')!;
    expect(id).toMatch(/^[0-9A-F]{24}$/);
    expect(linesOf(id)).toEqual([
      { level: 'info', time: expect.any(String), requestId: id, method: 'GET', path: '/media/a.bin', status: 200, ms: expect.any(Number), msg: 'request' },
    ]);
  });

  it('the IMM Action from a form-encoded POST body, the query string, or x-acs-action', async () => {
    const form = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Action: 'ListProjects', Version: '2020-09-30' }),
    });
    expect(form.status).toBe(200);
    const query = await fetch(`${server.url}/?Action=GetProject&ProjectName=nope`);
    expect(query.status).toBe(404);
    const header = await fetch(`${server.url}/`, { method: 'POST', headers: { 'x-acs-action': 'ListProjects', 'content-type': 'application/json' }, body: '{}' });
    expect(header.status).toBe(200);
    for (const [res, action, status] of [[form, 'ListProjects', 200], [query, 'GetProject', 404], [header, 'ListProjects', 200]] as const) {
      const id = res.headers.get('x-oss-request-id')!;
      expect(((await res.json()) as { RequestId: string }).RequestId).toBe(id);
      expect(linesOf(id).filter((l) => l.msg === 'request')).toEqual([expect.objectContaining({ requestId: id, action, method: res === query ? 'GET' : 'POST', path: '/', status })]);
    }
  });

  it('a failing action: its error line carries the request id, the Action and the cause chain', async () => {
    const tasks = server.deps.tasks as { listProjects: (...args: unknown[]) => unknown };
    const original = tasks.listProjects;
    tasks.listProjects = () => {
      throw new TypeError('journal unreadable', { cause: Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }) });
    };
    try {
      const res = await fetch(`${server.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=ListProjects',
      });
      expect(res.status).toBe(500);
      const id = res.headers.get('x-oss-request-id')!;
      const failed = linesOf(id).find((l) => l.msg === 'IMM request failed')!;
      expect(failed).toMatchObject({
        level: 'error',
        requestId: id,
        action: 'ListProjects',
        err: { type: 'AppError', status: 500, cause: { type: 'TypeError', message: 'journal unreadable', cause: { message: 'EIO: i/o error, read', code: 'EIO' } } },
      });
      expect(linesOf(id).find((l) => l.msg === 'request')).toMatchObject({ action: 'ListProjects', status: 500 });
    } finally {
      tasks.listProjects = original;
    }
  });

  it('the ops endpoints are not access-logged', async () => {
    const before = lines().length;
    await (await fetch(`${server.url}/_/health`)).arrayBuffer();
    await (await fetch(`${server.url}/_/metrics`)).arrayBuffer();
    expect(lines().slice(before).filter((l) => l.msg === 'request')).toEqual([]);
  });
});
