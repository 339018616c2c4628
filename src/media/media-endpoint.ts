// How ffmpeg reads objects that are not local files: a loopback HTTP endpoint inside the server process
// (127.0.0.1, a random port, an unguessable per-process token in every path) that answers ffmpeg's Range
// requests from the block cache, which is fed by ranged reads through the storage adapter. ffmpeg gets
// `-protocol_whitelist http,tcp` and a URL on this endpoint, never an origin URL or a credential.
//
// Each mediaInput() opens a session: its bucket is fixed (a URL can only name keys of that bucket), each
// object is pinned to the version first seen (ETag), and an origin failure is remembered so the ffmpeg run
// it broke is answered with the origin's status (404, 403, 504 …) instead of "not media".
//
// HLS: a session for a playlist allows the hls demuxer, and every playlist the session serves — the
// one asked for, its variants, and anything whose bytes start with #EXTM3U whatever its name — is
// validated and rewritten first (src/media/hls-playlist.ts), so segments come from the same bucket
// through this endpoint and nothing else. The local store sends playlists here too.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LRUCache } from 'lru-cache';
import { equalSecret } from '../core/equal-secret.js';
import { AppError, errors } from '../errors.js';
import type { Logger } from '../log.js';
import { validateKey, type ObjectStat, type ObjectStore } from '../source/store.js';
import type { BlockCache, ObjectVersion } from './block-cache.js';
import { isPlaylistKey, looksLikePlaylist, MAX_PLAYLIST_BYTES, rewritePlaylist } from './hls-playlist.js';
import type { MediaInput } from './input.js';
import { ProcessFailedError } from './run.js';
import type { FfmpegRunner } from './runner.js';

// ffmpeg asks for open-ended ranges (`bytes=N-`) and reads on until it seeks or exits; loopback socket
// buffers (megabytes: the loopback MSS is 64 KiB) would let a streaming answer pull far more from the
// origin than ffmpeg ever reads. So an open-ended range is answered with a short window — to the end of
// the block (two blocks when ffmpeg reads on sequentially) — and the connection closed; `-reconnect 1`
// makes ffmpeg ask for the rest where it stopped (documented: "reconnect when disconnected before EOF"),
// and `-reconnect_delay_max 0` allows exactly one immediate reconnect per read, so an origin failure
// behind it fails the run at once instead of being retried with back-off (1, 3, 7 … s) until the deadline.
// `-seekable 1`: seekable even if a proxy strips Accept-Ranges. All exist unchanged in ffmpeg 4.1 … 7.x.
const HTTP_OPTIONS = ['-seekable', '1', '-multiple_requests', '1', '-reconnect', '1', '-reconnect_delay_max', '0'] as const;
// HLS segments are opened by the hls demuxer without the top-level options (no -reconnect): they are
// answered whole; they are short by construction.
const HLS_OPTIONS = ['-seekable', '1', '-multiple_requests', '1'] as const;
/** Blocks in the answer to an open-ended range: one for a fresh position, more when ffmpeg reads on. */
const WINDOW_BLOCKS = { fresh: 1, sequential: 2 } as const;

interface Session {
  bucket: string;
  /** Versions read in this session, pinned at first use: one ffmpeg run never mixes two. */
  versions: Map<string, ObjectStat>;
  /** Validated, rewritten playlists. */
  playlists: Map<string, Buffer>;
  hls: boolean;
  /** Where the last windowed answer for each key ended: a request starting there reads on sequentially. */
  cursors: Map<string, number>;
  failure?: { error: AppError; at: number };
  bytes: number;
}

export interface MediaEndpoint {
  /** A MediaInput reading `bucket/key` (at version `stat`, when given) through the endpoint. */
  mediaInput(bucket: string, key: string, stat?: ObjectStat): Promise<MediaInput>;
  /**
   * The runner with origin failures surfaced: an ffmpeg run that failed because the endpoint could not
   * read the origin throws the origin's error (NoSuchKey, AccessDenied, GatewayTimeout …).
   */
  wrapRunner(runner: FfmpegRunner): FfmpegRunner;
  /** The origin failure of a session named in `text` (ffmpeg args or stderr) since `since` (ms epoch). */
  failureIn(text: string, since?: number): AppError | undefined;
  readonly url: string | undefined;
  close(): Promise<void>;
}

export interface MediaEndpointOptions {
  store: ObjectStore;
  cache: BlockCache;
  log: Logger;
  /** Sessions kept (each is small unless it holds playlists, bounded by bytes below). */
  maxSessionBytes?: number;
}

function statusOf(err: unknown): number {
  if (err instanceof AppError) return err.status;
  return 502;
}

export function createMediaEndpoint(options: MediaEndpointOptions): MediaEndpoint {
  const { store, cache, log } = options;
  const token = randomBytes(18).toString('base64url');
  const tokenBytes = Buffer.from(token);
  const sessions = new LRUCache<string, Session>({
    maxSize: options.maxSessionBytes ?? 64 * 1024 * 1024,
    sizeCalculation: (s) => 1024 + s.bytes,
    // Long enough for the longest task run; every request refreshes it.
    ttl: 6 * 3600 * 1000,
    updateAgeOnGet: true,
  });
  let server: Server | undefined;
  let listening: Promise<string> | undefined;
  let base: string | undefined;

  const pathOf = (sid: string, key: string) => `/${token}/${sid}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const versionOf = (bucket: string, key: string, stat: ObjectStat): ObjectVersion => ({ bucket, key, etag: stat.etag, size: stat.size });

  async function pin(session: Session, key: string): Promise<ObjectStat> {
    let stat = session.versions.get(key);
    if (!stat) {
      stat = await store.stat(session.bucket, key);
      session.versions.set(key, stat);
    }
    return stat;
  }

  /** Validates and rewrites the playlist at `key` (and, from the top one, its variants); 400 on a bad URI. */
  async function preparePlaylist(session: Session, sid: string, key: string, depth: number): Promise<Buffer> {
    const held = session.playlists.get(key);
    if (held) return held;
    const stat = await pin(session, key);
    if (stat.size > MAX_PLAYLIST_BYTES) {
      throw errors.limitExceeded(`The HLS playlist "${key}" is ${stat.size} bytes, above the limit of ${MAX_PLAYLIST_BYTES}.`);
    }
    const text = stat.size ? (await cache.read(versionOf(session.bucket, key, stat), 0, stat.size - 1)).toString('utf8') : '';
    const rewritten = rewritePlaylist(key, text, (ref) => pathOf(sid, ref));
    const body = Buffer.from(rewritten.body);
    session.playlists.set(key, body);
    session.bytes += body.length;
    if (depth === 0) {
      // Variants are checked now, so a bad one is a 400 before ffmpeg starts; one that is missing is
      // left to fail (404) if ffmpeg picks it.
      for (const ref of rewritten.refs.filter((r) => r.playlist).slice(0, 64)) {
        try {
          await preparePlaylist(session, sid, ref.key, depth + 1);
        } catch (err) {
          if (!(err instanceof AppError && err.status === 404)) throw err;
        }
      }
    }
    return body;
  }

  /** In an HLS session, anything that reads as a playlist is served as a validated one, whatever its name. */
  async function servesAsPlaylist(session: Session, key: string, stat: ObjectStat): Promise<boolean> {
    if (!session.hls) return false;
    if (session.playlists.has(key) || isPlaylistKey(key)) return true;
    if (stat.size === 0) return false;
    const head = await cache.read(versionOf(session.bucket, key, stat), 0, Math.min(stat.size, 64) - 1);
    return looksLikePlaylist(head);
  }

  function fail(res: ServerResponse, status: number, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) });
    res.end(message);
  }

  /** `Range: bytes=…` → [start, end], 'unsatisfiable', or undefined for the whole object. */
  function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
    const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
    if (!m || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] === '') {
      const suffix = Number(m[2]);
      return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
    }
    const start = Number(m[1]);
    const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start >= size || end < start) return 'unsatisfiable';
    return [start, end];
  }

  async function sendBytes(req: IncomingMessage, res: ServerResponse, session: Session, object: ObjectVersion): Promise<void> {
    let range = parseRange(req.headers.range, object.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${object.size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const openEnded = !session.hls && object.size > 0 && (!range || /^bytes=\d*-$/.test(String(req.headers.range).trim()));
    let windowed = false;
    if (openEnded) {
      const start = range ? range[0] : 0;
      const blocks = session.cursors.get(object.key) === start ? WINDOW_BLOCKS.sequential : WINDOW_BLOCKS.fresh;
      const end = Math.min(object.size - 1, (Math.floor(start / cache.blockSize) + blocks) * cache.blockSize - 1);
      session.cursors.set(object.key, end + 1);
      windowed = end < object.size - 1;
      range = [start, end];
    }
    const [start, end] = range ?? [0, object.size - 1];
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'Content-Length': Math.max(0, end - start + 1),
    };
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${object.size}`;
    // ffmpeg notices the end of a short answer only when the connection closes.
    if (windowed) headers.Connection = 'close';
    // The first block is fetched before the head is sent, so an origin error is still a clean status.
    const blocks = cache.stream(object, start, end);
    const first = req.method === 'HEAD' || object.size === 0 ? undefined : await blocks.next();
    res.writeHead(range ? 206 : 200, headers);
    if (!first || first.done) {
      await blocks.return();
      res.end();
      return;
    }
    let closed = false;
    res.once('close', () => {
      closed = true;
    });
    let chunk: Buffer | undefined = first.value;
    try {
      while (chunk && !closed) {
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
        if (closed) break;
        const next = await blocks.next();
        chunk = next.done ? undefined : next.value;
      }
    } finally {
      // ffmpeg hung up (it seeks by closing and asking again): stop, leaving what is in flight to the cache.
      await blocks.return();
    }
    if (!closed) res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts = (req.url ?? '').split('?')[0]!.split('/');
    const [, presented = '', sid = ''] = parts;
    if (!equalSecret(tokenBytes, presented)) return fail(res, 404, 'Not found.');
    const session = sessions.get(sid);
    if (!session) return fail(res, 404, 'No such session.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'Method not allowed.');
    let key: string;
    try {
      key = parts.slice(3).map(decodeURIComponent).join('/');
      validateKey(key);
    } catch {
      return fail(res, 400, 'Bad object key.');
    }
    try {
      const stat = await pin(session, key);
      if (await servesAsPlaylist(session, key, stat)) {
        const body = await preparePlaylist(session, sid, key, 1);
        res.writeHead(200, { 'Content-Type': 'application/vnd.apple.mpegurl', 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      await sendBytes(req, res, session, versionOf(session.bucket, key, stat));
    } catch (err) {
      const error = err instanceof AppError ? err : errors.originFailed('The origin could not be read.', err);
      session.failure = { error, at: Date.now() };
      if (error.status >= 500) log.warn('origin read failed', { bucket: session.bucket, key, status: error.status, err });
      fail(res, statusOf(error), error.message);
    }
  }

  async function start(): Promise<string> {
    const s = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error('media endpoint failed', { err });
        fail(res, 500, 'Internal error.');
      });
    });
    // Sockets of finished ffmpeg runs close at once; keep-alive only spans one run's requests.
    s.keepAliveTimeout = 5_000;
    s.unref();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve());
    });
    server = s;
    base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    return base;
  }

  function failureIn(text: string, since = 0): AppError | undefined {
    const marker = `/${token}/`;
    let at = text.indexOf(marker);
    while (at >= 0) {
      const sid = /^[A-Za-z0-9_-]+/.exec(text.slice(at + marker.length))?.[0];
      const failure = sid ? sessions.peek(sid)?.failure : undefined;
      if (failure && failure.at >= since) return failure.error;
      at = text.indexOf(marker, at + marker.length);
    }
    return undefined;
  }

  return {
    get url() {
      return base;
    },
    async mediaInput(bucket, key, stat) {
      const url = await (listening ??= start());
      const pinned = stat ?? (await store.stat(bucket, key));
      const session: Session = { bucket, versions: new Map([[key, pinned]]), playlists: new Map(), hls: isPlaylistKey(key), cursors: new Map(), bytes: 0 };
      const sid = randomBytes(12).toString('base64url');
      if (session.hls) await preparePlaylist(session, sid, key, 0);
      sessions.set(sid, session);
      return {
        url: url + pathOf(sid, key),
        protocols: ['http', 'tcp'],
        options: session.hls ? HLS_OPTIONS : HTTP_OPTIONS,
        ...(session.hls ? { demuxers: ['hls'] as const } : {}),
      };
    },
    wrapRunner(runner) {
      const surfaced = async <T>(args: readonly string[], run: () => Promise<T>): Promise<T> => {
        const since = Date.now();
        let result: T;
        try {
          result = await run();
        } catch (err) {
          if (err instanceof ProcessFailedError) throw failureIn(args.join(' '), since) ?? err;
          throw err;
        }
        // ffmpeg may take a read error for the end of the file and exit 0 with what it had: an origin
        // failure during the run means its output cannot be trusted either.
        const failure = failureIn(args.join(' '), since);
        if (failure) throw failure;
        return result;
      };
      return {
        ...runner,
        ffmpeg: (args, signal) => surfaced(args, () => runner.ffmpeg(args, signal)),
        ffprobe: (args, signal) => surfaced(args, () => runner.ffprobe(args, signal)),
        classify(err, what) {
          // Runs started elsewhere (multi-frame streams) carry the session in their stderr.
          if (err instanceof ProcessFailedError) {
            const failure = failureIn(err.stderr, Date.now() - 10 * 60_000);
            if (failure) return failure;
          }
          return runner.classify(err, what);
        },
      };
    },
    failureIn,
    async close() {
      if (!server) return;
      const s = server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}

/**
 * The store as ffmpeg should see it: local files directly (the fast path), everything else — remote
 * objects and every HLS playlist, local ones included — through the endpoint.
 */
export function routeMedia(store: ObjectStore, endpoint: MediaEndpoint): ObjectStore {
  const direct = store.directMedia === true;
  return {
    ...store,
    mediaInput: (bucket, key, stat) =>
      direct && !isPlaylistKey(key) ? store.mediaInput(bucket, key, stat) : endpoint.mediaInput(bucket, key, stat),
  };
}
