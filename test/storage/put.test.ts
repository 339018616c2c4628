// PUT /{bucket}/{key}: uploads stream through the storage adapter (off by default), so IMM's flow
// "upload, then capture" works against the server itself.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startS3, type S3Server } from '../support/storage.js';
import { startServer, type TestServer } from '../support/server.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

/** A raw request (fetch always adds a length or chunking; this can send neither). */
function raw(url: string, method: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('PUT on the local directory', () => {
  let root: string;
  let app: TestServer;
  let off: TestServer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-put-'));
    await mkdir(join(root, 'media'));
    app = await startServer({ env: { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_ALLOW_PUT: 'true', STILLFRAME_MAX_PUT_BYTES: '2MB' } });
    off = await startServer({ env: { STILLFRAME_STORAGE: `file://${root}` } });
  });
  afterAll(async () => {
    await app?.close();
    await off?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('is refused with 405 unless STILLFRAME_ALLOW_PUT is set', async () => {
    const res = await fetch(`${off.url}/media/x.txt`, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(405);
    expect(await res.text()).toContain('<Code>MethodNotAllowed</Code>');
  });

  it('upload, then capture: 200 with the ETag the object then has', async () => {
    const video = await readFile(await fixture({ container: 'mp4', codec: 'h264' }));
    const put = await fetch(`${app.url}/media/up/load.mp4`, { method: 'PUT', body: video, headers: { 'content-type': 'video/mp4' } });
    expect(put.status).toBe(200);
    const head = await fetch(`${app.url}/media/up/load.mp4`, { method: 'HEAD' });
    expect(put.headers.get('etag')).toBe(head.headers.get('etag'));
    const snap = await fetch(`${app.url}/media/up/load.mp4?x-oss-process=video/snapshot,t_2000,f_png`);
    expect(snap.status).toBe(200);
    expect(await readFrameIndex(Buffer.from(await snap.arrayBuffer()))).toBe(50);
  });

  it('streams a chunked body; replaces the object atomically', async () => {
    const parts = [Buffer.alloc(100_000, 1), Buffer.alloc(50_000, 2)];
    const res = await raw(`${app.url}/media/chunked.bin`, 'PUT', { 'transfer-encoding': 'chunked' }, parts);
    expect(res.status).toBe(200);
    expect((await readFile(join(root, 'media', 'chunked.bin'))).equals(Buffer.concat(parts))).toBe(true);
  });

  it('Content-Length over the limit → 413 before reading; a chunked body over it → 413, nothing stored', async () => {
    const declared = await raw(`${app.url}/media/big.bin`, 'PUT', { 'content-length': String(3 * 1024 * 1024) }, [Buffer.alloc(3 * 1024 * 1024)]);
    expect(declared.status).toBe(413);
    const streamed = await raw(`${app.url}/media/big2.bin`, 'PUT', { 'transfer-encoding': 'chunked' }, [Buffer.alloc(1024 * 1024), Buffer.alloc(1024 * 1024), Buffer.alloc(1024)]);
    expect(streamed.status).toBe(413);
    const names = await readdir(join(root, 'media'));
    expect(names.filter((n) => n.startsWith('big') || n.endsWith('.partial'))).toEqual([]);
  });

  it('neither Content-Length nor chunked → 411', async () => {
    const { port } = new URL(app.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('PUT /media/x.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 411/);
    expect(answer).toContain('<Code>MissingContentLength</Code>');
  });

  it('Content-MD5 is checked: a mismatch → 400 InvalidDigest and no object', async () => {
    const body = Buffer.from('checked body');
    const good = createHash('md5').update(body).digest('base64');
    expect((await fetch(`${app.url}/media/md5.txt`, { method: 'PUT', body, headers: { 'content-md5': good } })).status).toBe(200);
    const bad = await fetch(`${app.url}/media/md5-bad.txt`, { method: 'PUT', body, headers: { 'content-md5': createHash('md5').update('other').digest('base64') } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('<Code>InvalidDigest</Code>');
    expect((await readdir(join(root, 'media'))).includes('md5-bad.txt')).toBe(false);
  });

  it('bad names are 400 and a missing bucket is 404', async () => {
    expect((await fetch(`${app.url}/media/a%5Cb.txt`, { method: 'PUT', body: 'x' })).status).toBe(400);
    expect((await fetch(`${app.url}/nobucket/x.txt`, { method: 'PUT', body: 'x' })).status).toBe(404);
  });
});

describe('PUT on S3 (multipart for large bodies)', () => {
  let s3: S3Server;
  let app: TestServer;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('media');
    app = await startServer({ env: { ...s3.env, STILLFRAME_ALLOW_PUT: 'true' } });
  });
  afterAll(async () => {
    await app?.close();
    await s3?.close();
  });

  it('a 20 MB chunked upload lands whole, in 8 MiB parts', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    s3.counter.reset();
    const res = await raw(`${app.url}/media/big/upload.bin`, 'PUT', { 'transfer-encoding': 'chunked' }, [body.subarray(0, 7e6), body.subarray(7e6)]);
    expect(res.status, res.body).toBe(200);
    expect(s3.counter.requests.filter((r) => r.method === 'PUT' && r.path.includes('partNumber'))).toHaveLength(3);
    const got = Buffer.from(await (await fetch(`${app.url}/media/big/upload.bin`)).arrayBuffer());
    expect(got.equals(body)).toBe(true);
  });

  it('upload, then capture', async () => {
    const video = await readFile(await fixture({ container: 'mp4', codec: 'h264' }));
    expect((await fetch(`${app.url}/media/clip.mp4`, { method: 'PUT', body: video })).status).toBe(200);
    const snap = await fetch(`${app.url}/media/clip.mp4?x-oss-process=video/snapshot,t_1000,f_png`);
    expect(await readFrameIndex(Buffer.from(await snap.arrayBuffer()))).toBe(25);
  });
});

describe('PUT on a read-only HTTP origin', () => {
  let origin: Origin;
  let app: TestServer;
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-put-origin-'));
    origin = await startOrigin({ root, prefix: '/o' });
    app = await startServer({ env: { STILLFRAME_STORAGE: origin.base, STILLFRAME_ALLOW_PUT: 'true' } });
  });
  afterAll(async () => {
    await app?.close();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('→ 405 saying the storage is read-only', async () => {
    const res = await fetch(`${app.url}/media/x.txt`, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(405);
    expect(await res.text()).toContain('is read-only');
  });
});
