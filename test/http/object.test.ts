// Plain object access: GET/HEAD, ranges, validators, errors, virtual-hosted URLs.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.js';

const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    objects: { 'files/data.bin': BODY, 'files/dir/nested name.txt': Buffer.from('hello'), 'files/empty.txt': Buffer.alloc(0) },
    env: { STILLFRAME_DOMAIN: 'img.example.com' },
  });
});
afterAll(() => server?.close());

const get = (path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
  request(`${server.url}${path}`, { method, headers });

describe('GET and HEAD', () => {
  it('serves the whole object with validators', async () => {
    const res = await get('/files/data.bin');
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(await res.body.arrayBuffer())).toEqual(BODY);
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers['last-modified']).toBeTruthy();
    expect(res.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
  });

  it('HEAD gives the same headers and no body', async () => {
    const res = await get('/files/data.bin', {}, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('1000');
    expect((await res.body.arrayBuffer()).byteLength).toBe(0);
  });

  it('decodes percent-encoded keys', async () => {
    const res = await get('/files/dir/nested%20name.txt');
    expect(await res.body.text()).toBe('hello');
  });

  it('serves virtual-hosted style URLs', async () => {
    const res = await get('/data.bin', { host: 'files.img.example.com' });
    expect(res.statusCode).toBe(200);
    expect((await res.body.arrayBuffer()).byteLength).toBe(1000);
  });
});

describe('Range', () => {
  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=900-', 900, 999],
    ['bytes=-10', 990, 999],
    ['bytes=990-5000', 990, 999],
  ])('%s → 206', async (range, start, end) => {
    const res = await get('/files/data.bin', { range });
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/1000`);
    expect(Buffer.from(await res.body.arrayBuffer())).toEqual(BODY.subarray(start, end + 1));
  });

  it('unsatisfiable → 416 with the size', async () => {
    const res = await get('/files/data.bin', { range: 'bytes=1000-' });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */1000');
    expect(await res.body.text()).toContain('<Code>InvalidRange</Code>');
  });

  it('multiple ranges → the whole object', async () => {
    const res = await get('/files/data.bin', { range: 'bytes=0-1,5-6' });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('If-Range with a stale ETag → the whole object', async () => {
    const res = await get('/files/data.bin', { range: 'bytes=0-9', 'if-range': '"stale"' });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });
});

describe('conditional requests', () => {
  it('If-None-Match → 304; If-Modified-Since → 304; If-Match mismatch → 412', async () => {
    const first = await get('/files/data.bin');
    await first.body.dump();
    const etag = first.headers.etag as string;
    const lastModified = first.headers['last-modified'] as string;
    const notModified = await get('/files/data.bin', { 'if-none-match': etag });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.headers.etag).toBe(etag);
    await notModified.body.dump();
    const since = await get('/files/data.bin', { 'if-modified-since': lastModified });
    expect(since.statusCode).toBe(304);
    await since.body.dump();
    const changed = await get('/files/data.bin', { 'if-none-match': '"other"' });
    expect(changed.statusCode).toBe(200);
    await changed.body.dump();
    const precondition = await get('/files/data.bin', { 'if-match': '"other"' });
    expect(precondition.statusCode).toBe(412);
    await precondition.body.dump();
  });
});

describe('errors', () => {
  async function ossError(path: string, method: 'GET' | 'HEAD' = 'GET') {
    const res = await get(path, {}, method);
    const text = await res.body.text();
    return { status: res.statusCode, code: /<Code>(.*)<\/Code>/.exec(text)?.[1], text, headers: res.headers };
  }

  it('missing key → 404 NoSuchKey with an OSS XML body', async () => {
    const e = await ossError('/files/nope.mp4');
    expect(e).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(e.headers['content-type']).toBe('application/xml');
    expect(e.text).toMatch(/<RequestId>[0-9A-F]{24}<\/RequestId>/);
    expect(e.text).toContain(`<HostId>127.0.0.1:`);
  });

  it('missing bucket → 404 NoSuchBucket', async () => {
    expect(await ossError('/nobucket/a.mp4')).toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it('a directory is not an object', async () => {
    expect(await ossError('/files/dir')).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it.each([
    ['/files/%2e%2e/%2e%2e/etc/passwd'],
    ['/files/dir%2f..%2f..%2fetc%2fpasswd'],
    ['/files/..%5c..%5cetc%5cpasswd'],
    ['/files/a%00b'],
    ['/files/%zz'],
  ])('refuses path traversal %s with a 4xx', async (path) => {
    const e = await ossError(path);
    expect(e.status).toBeGreaterThanOrEqual(400);
    expect(e.status).toBeLessThan(500);
    expect(e.text).not.toContain('root:');
  });

  it('refuses over-long keys and query strings', async () => {
    expect((await ossError(`/files/${'a'.repeat(1100)}`)).code).toBe('InvalidObjectName');
    expect((await ossError(`/files/data.bin?x=${'a'.repeat(5000)}`)).status).toBe(400);
  });

  it('refuses bad bucket names and reserves /_/', async () => {
    expect((await ossError('/Bad_Bucket/a')).code).toBe('InvalidBucketName');
    expect((await ossError('/_/nothing')).status).toBe(404);
  });

  it('other methods → 405', async () => {
    const res = await request(`${server.url}/files/data.bin`, { method: 'DELETE' });
    expect(res.statusCode).toBe(405);
    await res.body.dump();
  });
});

describe('ops endpoints', () => {
  it('health names the engine, its versions and its workers', async () => {
    const res = await get('/_/health');
    const health = (await res.body.json()) as { status: string; engine: { ffmpeg: string; node: string; workers: number; busy: number } };
    expect(res.statusCode).toBe(200);
    expect(health.status).toBe('ok');
    expect(health.engine.ffmpeg).toMatch(/^8\.\d+/);
    expect(health.engine.node).toBe(process.versions.node);
    expect(health.engine.workers).toBeGreaterThan(0);
    expect(health.engine.busy).toBe(0);
  });

  it('metrics are Prometheus text', async () => {
    const res = await get('/_/metrics');
    const text = await res.body.text();
    expect(text).toContain('# TYPE stillframe_http_requests_total counter');
    expect(text).toContain('stillframe_captures_queued');
  });
});

describe('ops endpoints with STILLFRAME_OPS_TOKEN', () => {
  const token = 'ops-token-0123456789abcdef';
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startServer({ env: { STILLFRAME_OPS_TOKEN: token } });
  });
  afterAll(() => guarded.close());
  const at = (path: string, authorization?: string) => request(`${guarded.url}${path}`, { headers: authorization ? { authorization } : {} });

  it('metrics need the bearer token: none or a wrong one → 401', async () => {
    for (const auth of [undefined, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, `Basic ${token}`]) {
      const res = await at('/_/metrics', auth);
      expect(res.statusCode, String(auth)).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      await res.body.dump();
    }
    const res = await at('/_/metrics', `Bearer ${token}`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toContain('stillframe_http_requests_total');
  });

  it('health answers its status to anyone, its details (versions, storage, load) only with the token', async () => {
    const open = await at('/_/health');
    expect(open.statusCode).toBe(200);
    expect(await open.body.json()).toEqual({ status: 'ok' });
    const full = (await (await at('/_/health', `Bearer ${token}`)).body.json()) as Record<string, unknown>;
    expect(full).toHaveProperty('engine');
    expect(full).toHaveProperty('storage');
  });
});
