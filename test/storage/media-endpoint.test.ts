// The loopback endpoint ffmpeg reads remote objects (and every HLS playlist) through: loopback only,
// an unguessable token, sessions fixed to one bucket, short windows for open-ended ranges; and where
// task outputs go when the storage is read-only.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { putFile, startApp, type AppServer } from '../source/harness.js';
import { startOrigin, type Origin } from '../source/origin-server.js';

describe('media endpoint', () => {
  let root: string;
  let origin: Origin;
  let app: AppServer;
  let local: AppServer;
  const body = Buffer.alloc(1024 * 1024 + 100);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-endpoint-'));
    await putFile(root, 'media', 'obj.bin', body);
    await putFile(root, 'media', 'list.m3u8', '#EXTM3U\n#EXTINF:1,\nobj.bin\n');
    await putFile(root, 'other', 'secret.bin', 'secret');
    origin = await startOrigin({ root, prefix: '/o' });
    app = await startApp({ STILLFRAME_STORAGE: origin.base, STILLFRAME_BLOCK_SIZE: '256KB' });
    local = await startApp({ STILLFRAME_STORAGE: `file://${root}` });
  });
  afterAll(async () => {
    await app?.close();
    await local?.close();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('gives ffmpeg a loopback URL with a token, http+tcp only, hls only for playlists', async () => {
    const input = await app.deps.store.mediaInput('media', 'obj.bin');
    expect(input.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{24}\/[A-Za-z0-9_-]{16}\/obj\.bin$/);
    expect(input.protocols).toEqual(['http', 'tcp']);
    expect(input.demuxers).toBeUndefined();
    expect((await app.deps.store.mediaInput('media', 'list.m3u8')).demuxers).toEqual(['hls']);
  });

  it('the local store hands ffmpeg files directly, but playlists through the endpoint', async () => {
    expect((await local.deps.store.mediaInput('media', 'obj.bin')).url).toMatch(/^file:\//);
    expect((await local.deps.store.mediaInput('media', 'list.m3u8')).url).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });

  it('answers nothing without the token, for unknown sessions, or for other methods', async () => {
    const { url } = await app.deps.store.mediaInput('media', 'obj.bin');
    const u = new URL(url);
    const [, token, sid] = u.pathname.split('/');
    expect((await fetch(`${u.origin}/obj.bin`)).status).toBe(404);
    expect((await fetch(`${u.origin}/${token!.replace(/./, 'x')}/${sid}/obj.bin`)).status).toBe(404);
    expect((await fetch(`${u.origin}/${token}/nosuchsession/obj.bin`)).status).toBe(404);
    expect((await fetch(url, { method: 'POST', body: 'x' })).status).toBe(405);
    // ffmpeg's first request carries no Range (-seekable 1): it is answered like `bytes=0-`, with a
    // window and the object's size in Content-Range (a private protocol between us and ffmpeg).
    const first = await fetch(url);
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-${256 * 1024 - 1}/${body.length}`);
    await first.arrayBuffer();
  });

  it('a session reaches keys of its own bucket only', async () => {
    const { url } = await app.deps.store.mediaInput('media', 'obj.bin');
    const base = url.slice(0, url.lastIndexOf('/'));
    // (fetch itself folds %2e%2e away: the path then names no session)
    expect([400, 404]).toContain((await fetch(`${base}/%2e%2e/other/secret.bin`)).status);
    expect((await fetch(`${base}/..%2Fother%2Fsecret.bin`)).status).toBe(400);
    expect((await fetch(`${base}/other/secret.bin`)).status).toBe(404);
  });

  it('answers an open-ended range with a short window and closes; a continuation gets a longer one', async () => {
    const { url } = await app.deps.store.mediaInput('media', 'obj.bin');
    const first = await fetch(url, { headers: { range: 'bytes=1000-' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 1000-${256 * 1024 - 1}/${body.length}`);
    expect(first.headers.get('connection')).toBe('close');
    expect(Buffer.from(await first.arrayBuffer()).equals(body.subarray(1000, 256 * 1024))).toBe(true);
    const next = await fetch(url, { headers: { range: `bytes=${256 * 1024}-` } });
    expect(next.headers.get('content-range')).toBe(`bytes ${256 * 1024}-${3 * 256 * 1024 - 1}/${body.length}`);
    await next.arrayBuffer();
  });

  it('answers bounded and suffix ranges exactly; past the end → 416', async () => {
    const { url } = await app.deps.store.mediaInput('media', 'obj.bin');
    const bounded = await fetch(url, { headers: { range: 'bytes=100-600000' } });
    expect(Buffer.from(await bounded.arrayBuffer()).equals(body.subarray(100, 600001))).toBe(true);
    const suffix = await fetch(url, { headers: { range: 'bytes=-50' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(body.subarray(body.length - 50))).toBe(true);
    const past = await fetch(url, { headers: { range: `bytes=${body.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${body.length}`);
  });

  it('pins the version the session started with: a changed object is not mixed in', async () => {
    await putFile(root, 'media', 'pinned.bin', Buffer.alloc(600_000, 1));
    const stat = await app.deps.store.stat('media', 'pinned.bin');
    const { url } = await app.deps.store.mediaInput('media', 'pinned.bin', stat);
    await new Promise((r) => setTimeout(r, 20));
    await putFile(root, 'media', 'pinned.bin', Buffer.alloc(600_000, 2));
    expect((await fetch(url, { headers: { range: 'bytes=0-99' } })).status).toBe(412);
  });
});

describe('output storage', () => {
  let root: string;
  let origin: Origin;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-output-'));
    await mkdir(join(root, 'out', 'media'), { recursive: true });
    origin = await startOrigin({ root, prefix: '/o' });
  });
  afterAll(async () => {
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('a writable store is its own output store', async () => {
    const app = await startApp({ STILLFRAME_STORAGE: `file://${root}` });
    try {
      expect(app.deps.outputStore.readOnly).toBeFalsy();
      expect(app.deps.outputStore.description).toBe(app.deps.store.description);
    } finally {
      await app.close();
    }
  });

  it('a read-only origin without STILLFRAME_OUTPUT_STORAGE: outputs are refused, saying what to set', async () => {
    const app = await startApp({ STILLFRAME_STORAGE: origin.base });
    try {
      expect(app.deps.outputStore.readOnly).toBe(true);
      const err = await app.deps.outputStore.write('media', 'x.jpg', Buffer.from('x')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).status).toBe(400);
      expect((err as AppError).message).toContain('STILLFRAME_OUTPUT_STORAGE');
    } finally {
      await app.close();
    }
  });

  it('with STILLFRAME_OUTPUT_STORAGE, outputs go there', async () => {
    const app = await startApp({ STILLFRAME_STORAGE: origin.base, STILLFRAME_OUTPUT_STORAGE: `file://${join(root, 'out')}` });
    try {
      await app.deps.outputStore.write('media', 'frames/1.jpg', Buffer.from('jpeg'));
      expect((await readFile(join(root, 'out', 'media', 'frames', '1.jpg'))).toString()).toBe('jpeg');
    } finally {
      await app.close();
    }
  });
});
