// A real HTTP origin for tests and benchmarks: a static file server with single Range requests, strong
// ETags, Last-Modified, If-Match / If-None-Match, that counts the requests and body bytes it serves.
// Switches make it misbehave the way real origins do: no HEAD, Range ignored, redirects (to itself or
// elsewhere), 403s, slow answers, transient 503s.
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

export interface ServedRequest {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
  bytes: number;
}

export interface OriginOptions {
  /** Directory served; `/prefix/a/b` is `root/a/b`. */
  root: string;
  prefix?: string;
}

export interface Origin {
  url: string;
  /** Base URL for STILLFRAME_STORAGE (url + prefix). */
  base: string;
  requests: ServedRequest[];
  /** Body bytes sent since the last reset. */
  bytes(): number;
  reset(): void;
  /** Misbehaviour switches, changeable between requests. */
  behaviour: {
    noHead: boolean;
    ignoreRange: boolean;
    /** Milliseconds before answering requests whose path contains `slow`. */
    slowMs: number;
    /** Paths containing this answer 403. */
    forbidden: string;
    /** path → Location, answered 302. */
    redirects: Map<string, string>;
    /** The next N requests answer 503. */
    failNext: number;
    /**
     * GETs (not HEADs) of paths containing `match` (and, with `fromByte`, ranges starting there or later)
     * answer `status`, or hang for `delayMs` first, or (`reset`) have their connection torn down.
     */
    getFault: { match: string; status?: number; delayMs?: number; fromByte?: number; reset?: boolean } | undefined;
  };
  close(): Promise<void>;
}

export async function startOrigin(options: OriginOptions): Promise<Origin> {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const requests: ServedRequest[] = [];
  const behaviour: Origin['behaviour'] = { noHead: false, ignoreRange: false, slowMs: 0, forbidden: '/private/', redirects: new Map(), failNext: 0, getFault: undefined };

  function done(req: IncomingMessage, path: string, range: string | undefined, status: number, bytes = 0) {
    requests.push({ method: req.method ?? '', path, range, status, bytes });
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const range = req.headers.range;
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      res.writeHead(status, headers);
      res.end();
      done(req, path, range, status);
    };
    if (behaviour.failNext > 0) {
      behaviour.failNext--;
      return answer(503);
    }
    if (path.includes('slow') && behaviour.slowMs) await new Promise((r) => setTimeout(r, behaviour.slowMs));
    const fault = behaviour.getFault;
    const rangeStart = Number(/bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
    if (fault && req.method === 'GET' && path.includes(fault.match) && rangeStart >= (fault.fromByte ?? 0)) {
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.status) return answer(fault.status);
      if (fault.reset) {
        done(req, path, range, 0);
        req.socket.resetAndDestroy();
        return;
      }
    }
    const location = behaviour.redirects.get(path);
    if (location) return answer(302, { Location: location });
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405);
    if (req.method === 'HEAD' && behaviour.noHead) return answer(405, { Allow: 'GET' });
    if (path.includes(behaviour.forbidden)) return answer(403);
    if (!path.startsWith(`${prefix}/`)) return answer(404);
    const file = normalize(join(options.root, path.slice(prefix.length)));
    if (!file.startsWith(options.root + sep)) return answer(404);
    let info: Stats;
    try {
      info = await stat(file);
    } catch {
      return answer(404);
    }
    if (!info.isFile()) return answer(404);
    const size = info.size;
    const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs * 1000).toString(16)}"`;
    const common = { ETag: etag, 'Last-Modified': info.mtime.toUTCString(), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch !== '*' && !ifMatch.split(',').map((t) => t.trim()).includes(etag)) return answer(412, common);
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch?.split(',').map((t) => t.trim()).includes(etag)) return answer(304, common);
    let start = 0;
    let end = size - 1;
    let status = 200;
    const m = range && !behaviour.ignoreRange ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
    if (m) {
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(end, Number(m[2]));
      }
      if (start >= size || end < start) return answer(416, { ...common, 'Content-Range': `bytes */${size}` });
      status = 206;
    }
    const headers: Record<string, string | number> = { ...common, 'Content-Length': end - start + 1 };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return done(req, path, range, status);
    }
    const entry: ServedRequest = { method: req.method ?? '', path, range, status, bytes: 0 };
    requests.push(entry);
    const stream = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    stream.on('data', (chunk) => {
      entry.bytes += chunk.length;
    });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    base: url + prefix,
    requests,
    behaviour,
    bytes: () => requests.reduce((sum, r) => sum + r.bytes, 0),
    reset() {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
