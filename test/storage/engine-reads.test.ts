// What the engine reads, and how: the file store hands over a local path; other stores' objects are
// read over the read bridge from the block cache, only for the sources of the job a worker runs, pinned to
// the version the job started with; an aborted job's reads fail at once; HLS is read and checked by the
// server. And where task outputs go when the storage is read-only.
// How the file store and playlists are prepared for the engine is unit-tested: test/unit/media/sources.test.ts.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createBlockCache } from '../../src/media/block-cache.js';
import { READ_ABORTED, READ_FAILED } from '../../src/media/protocol.js';
import { JobReads, serveReads, type ReadTarget } from '../../src/media/reads.js';
import { prepareSource, sourceId } from '../../src/media/sources.js';
import { createHttpStore } from '../../src/source/http-store.js';
import { rangeFetcher } from '../../src/source/open-store.js';
import type { ObjectStore } from '../../src/source/store.js';
import { putFile } from '../support/storage.js';
import { startServer } from '../support/server.js';
import { startOrigin, type Origin } from '../support/origin-server.js';

/** The worker's end of the bridge, asynchronous here: one request frame, one answer frame. */
function bridgeClient(socket: Socket) {
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiting?.();
  });
  const take = async (n: number) => {
    while (buffered.length < n) await new Promise<void>((resolve) => (waiting = resolve));
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  return async (id: string, segment: number, position: number, length: number): Promise<Buffer | number> => {
    const idBytes = Buffer.from(id);
    const request = Buffer.alloc(4 + idBytes.length + 16);
    request.writeUInt32LE(idBytes.length, 0);
    idBytes.copy(request, 4);
    request.writeInt32LE(segment, 4 + idBytes.length);
    request.writeDoubleLE(position, 8 + idBytes.length);
    request.writeUInt32LE(length, 16 + idBytes.length);
    socket.write(request);
    const status = (await take(4)).readInt32LE(0);
    return status > 0 ? Buffer.from(await take(status)) : status === 0 ? Buffer.alloc(0) : status;
  };
}

describe('the read bridge', () => {
  let root: string;
  let origin: Origin;
  let store: ObjectStore;
  let read: ReturnType<typeof bridgeClient>;
  let current: JobReads | undefined;
  let close: () => Promise<void>;
  const body = Buffer.alloc(700_000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-bridge-'));
    await putFile(root, 'media', 'obj.bin', body);
    await putFile(root, 'media', 'list/a.ts', 'TS bytes');
    await putFile(root, 'media', 'list/b.ts', '#EXTM3U\n#EXTINF:1,\nhttp://evil.example/x.ts\n');
    origin = await startOrigin({ root, prefix: '/o' });
    store = createHttpStore({ baseUrl: origin.base, timeoutMs: 2000 });
    const blocks = createBlockCache({ blockSize: 64 * 1024, maxBytes: 1024 ** 2, fetch: rangeFetcher(store) });
    // A socket pair over a Unix socket: the server's end is served as a worker's fd 3 is.
    const path = join(root, 'bridge.sock');
    const server = createServer((serverEnd) => serveReads(serverEnd, store, blocks, () => current));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const client = await new Promise<Socket>((resolve) => {
      const s: Socket = connect(path, () => resolve(s));
    });
    read = bridgeClient(client);
    close = async () => {
      client.destroy();
      await new Promise((r) => server.close(r));
    };
  });
  afterAll(async () => {
    await close?.();
    await origin?.close();
    await rm(root, { recursive: true, force: true });
  });

  const objectJob = async (key: string) => {
    const stat = await store.stat('media', key);
    const id = sourceId('media', key, stat.etag);
    const target: ReadTarget = { kind: 'object', version: { bucket: 'media', key, etag: stat.etag, size: stat.size } };
    current = new JobReads(new Map([[id, target]]));
    return { id, reads: current };
  };

  it('answers the bytes of the job’s own object at any position; the end reads as empty', async () => {
    const { id } = await objectJob('obj.bin');
    expect(await read(id, 0, 0, 1000)).toEqual(body.subarray(0, 1000));
    expect(await read(id, 0, 123_456, 100_000)).toEqual(body.subarray(123_456, 223_456));
    expect(await read(id, 0, body.length - 10, 1000)).toEqual(body.subarray(body.length - 10));
    expect(await read(id, 0, body.length, 1000)).toEqual(Buffer.alloc(0));
  });

  it('reads nothing for a source that is not the job’s', async () => {
    await objectJob('obj.bin');
    origin.reset();
    expect(await read(sourceId('other', 'secret.bin', '"x"'), 0, 0, 100)).toBe(READ_FAILED);
    expect(origin.requests).toHaveLength(0);
    current = undefined;
    expect(await read(sourceId('media', 'obj.bin', '"x"'), 0, 0, 100)).toBe(READ_FAILED);
  });

  it('an abandoned job’s reads fail at once', async () => {
    const { id, reads } = await objectJob('obj.bin');
    reads.aborted = true;
    expect(await read(id, 0, 0, 100)).toBe(READ_ABORTED);
  });

  it('pins the version the job started with: a changed object fails the read and is the job’s answer', async () => {
    await putFile(root, 'media', 'pinned.bin', Buffer.alloc(300_000, 1));
    const { id, reads } = await objectJob('pinned.bin');
    await new Promise((r) => setTimeout(r, 20));
    await putFile(root, 'media', 'pinned.bin', Buffer.alloc(300_000, 2));
    expect(await read(id, 0, 0, 100)).toBe(READ_FAILED);
    expect(reads.failure).toBeInstanceOf(AppError);
    expect(reads.failure?.status).toBe(412);
  });

  it('HLS: segments by index, the init section as -1; a segment that is a playlist fails the job', async () => {
    current = new JobReads(new Map([['hls', { kind: 'hls', bucket: 'media', init: 'list/a.ts', segments: ['list/a.ts', 'list/b.ts'] } satisfies ReadTarget]]));
    expect((await read('hls', 0, 0, 100)).toString()).toBe('TS bytes');
    expect((await read('hls', -1, 3, 100)).toString()).toBe('bytes');
    expect(await read('hls', 5, 0, 100)).toBe(READ_FAILED);
    expect(await read('hls', 1, 0, 100)).toBe(READ_FAILED);
    expect(current.failure?.message).toContain('"list/b.ts" is a playlist, not media');
  });
});

describe('preparing a source for the engine', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'stillframe-prepare-'));
    await putFile(root, 'media', 'v.mp4', 'not really');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const prepare = async (store: ObjectStore, key: string) => {
    const blocks = createBlockCache({ blockSize: 64 * 1024, maxBytes: 1024 ** 2, fetch: rangeFetcher(store) });
    return prepareSource(store, blocks, 'media', key, await store.stat('media', key));
  };

  it('an HTTP origin: bytes through the bridge, pinned to the ETag', async () => {
    const origin = await startOrigin({ root, prefix: '/o' });
    try {
      const store = createHttpStore({ baseUrl: origin.base, timeoutMs: 2000 });
      const stat = await store.stat('media', 'v.mp4');
      const prepared = await prepare(store, 'v.mp4');
      expect(prepared.ref).toEqual({ kind: 'object', id: sourceId('media', 'v.mp4', stat.etag), size: stat.size });
      expect(prepared.target).toEqual({ kind: 'object', version: { bucket: 'media', key: 'v.mp4', etag: stat.etag, size: stat.size } });
    } finally {
      await origin.close();
    }
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
    const app = await startServer({ env: { STILLFRAME_STORAGE: `file://${root}` } });
    try {
      expect(app.deps.outputStore.readOnly).toBeFalsy();
      expect(app.deps.outputStore.description).toBe(app.deps.store.description);
    } finally {
      await app.close();
    }
  });

  it('a read-only origin without STILLFRAME_OUTPUT_STORAGE: outputs are refused, saying what to set', async () => {
    const app = await startServer({ env: { STILLFRAME_STORAGE: origin.base } });
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
    const app = await startServer({ env: { STILLFRAME_STORAGE: origin.base, STILLFRAME_OUTPUT_STORAGE: `file://${join(root, 'out')}` } });
    try {
      await app.deps.outputStore.write('media', 'frames/1.jpg', Buffer.from('jpeg'));
      expect((await readFile(join(root, 'out', 'media', 'frames', '1.jpg'))).toString()).toBe('jpeg');
    } finally {
      await app.close();
    }
  });
});
