// A read-only HTTP origin: `/{bucket}/{key}` is `<base URL>/{bucket}/{key}` on one configured server.
// undici pool (keep-alive, bounded connections), timeouts on connect, headers and body, redirects
// followed by hand — at most a few, and each must stay on the configured origin (scheme, host, port), so
// neither a key nor the origin can steer requests to another host. Validators (ETag, Last-Modified) are
// the origin's. Idempotent requests are retried on connection errors and 502/503.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { Pool } from 'undici';
import { AppError, errors } from '../errors.js';
import {
  contentTypeFor,
  validateBucket,
  validateKey,
  type ByteRange,
  type ObjectStat,
  type ObjectStore,
  type ReadOptions,
} from './store.js';
import { sliceStream } from './streams.js';

export interface HttpStoreOptions {
  /** http(s)://host[:port][/prefix] */
  baseUrl: string;
  /** Connect, response-headers and between-body-bytes deadline. */
  timeoutMs: number;
  connections?: number;
  maxRedirects?: number;
  retries?: number;
}

interface OriginResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable & { dump?: () => Promise<void> };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stream errors of the origin's body, as AppErrors (timeouts → 504, the rest → 502). */
export function mapTransportError(err: unknown, timeoutMs: number, what: string): unknown {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; name?: string };
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR') return err;
  if (e?.code && TIMEOUT_CODES.has(e.code)) return errors.originTimeout(`The origin did not answer ${what} within ${timeoutMs} ms.`, err);
  return errors.originFailed(`The origin could not be read (${e?.code ?? e?.name ?? 'error'}) ${what}.`, err);
}

export function createHttpStore(options: HttpStoreOptions): ObjectStore {
  const base = new URL(options.baseUrl);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, '');
  const { timeoutMs } = options;
  const maxRedirects = options.maxRedirects ?? 3;
  const retries = options.retries ?? 2;
  // Credentials in the URL become Basic auth; they never appear in descriptions or logs.
  const authorization = base.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}`
    : undefined;
  const description = `${origin}${prefix}`;
  const pool = new Pool(origin, {
    connections: options.connections ?? 32,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
  });

  const pathOf = (bucket: string, key: string) => `${prefix}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;

  /** One request, redirects followed on the configured origin only, retried where safe. */
  async function request(method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<OriginResponse> {
    const all: Record<string, string> = { 'accept-encoding': 'identity', ...headers };
    if (authorization) all.authorization = authorization;
    for (let attempt = 0; ; attempt++) {
      try {
        let current = path;
        for (let hops = 0; ; hops++) {
          const res = (await pool.request({ method, path: current, headers: all, signal })) as unknown as OriginResponse;
          const location = header(res.headers, 'location');
          if (![301, 302, 303, 307, 308].includes(res.statusCode) || !location) {
            if ((res.statusCode === 502 || res.statusCode === 503) && attempt < retries) {
              await res.body.dump?.();
              throw Object.assign(new Error(`origin answered ${res.statusCode}`), { retry: true });
            }
            return res;
          }
          await res.body.dump?.();
          const next = new URL(location, origin + current);
          if (next.origin !== origin) {
            throw errors.originFailed(`The origin redirected ${method} ${current} to another host (${next.origin}); only ${origin} is allowed.`);
          }
          if (hops + 1 > maxRedirects) throw errors.originFailed(`The origin redirected ${method} ${path} more than ${maxRedirects} times.`);
          current = next.pathname + next.search;
        }
      } catch (err) {
        const again = (err as { retry?: boolean }).retry === true || (!(err instanceof AppError) && isConnectionError(err));
        if (attempt < retries && again && !signal?.aborted) {
          await sleep(100 * 3 ** attempt);
          continue;
        }
        if ((err as { retry?: boolean }).retry) throw errors.originFailed(`The origin answered ${method} ${path} with an error status.`);
        throw mapTransportError(err, timeoutMs, `${method} ${path}`);
      }
    }
  }

  function isConnectionError(err: unknown): boolean {
    const code = (err as { code?: string }).code;
    return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'ECONNREFUSED';
  }

  /** Non-success statuses → the catalogue (404 NoSuchKey, 403 AccessDenied, 412 changed, …). */
  async function refuse(res: OriginResponse, bucket: string, key: string, what: string): Promise<never> {
    await res.body.dump?.();
    switch (res.statusCode) {
      case 404:
      case 410:
        throw errors.noSuchKey(key);
      case 401:
      case 403:
        throw errors.accessDenied(`The origin refused access to ${bucket}/${key} (${res.statusCode}).`);
      case 412:
        throw errors.objectChanged(key);
      case 416: {
        const size = Number(/\*\/(\d+)/.exec(header(res.headers, 'content-range') ?? '')?.[1] ?? 0);
        throw errors.invalidRange(size);
      }
      case 504:
      case 408:
        throw errors.originTimeout(`The origin timed out on ${what} ${bucket}/${key} (${res.statusCode}).`);
      default:
        throw errors.originFailed(`The origin answered ${what} ${bucket}/${key} with ${res.statusCode}.`);
    }
  }

  /** The object's identity from response headers: the origin's strong ETag, else one derived from its validators. */
  function statFrom(headers: IncomingHttpHeaders, size: number, key: string): ObjectStat {
    const etag = header(headers, 'etag');
    const lastModifiedRaw = header(headers, 'last-modified');
    const lastModified = lastModifiedRaw && Number.isFinite(Date.parse(lastModifiedRaw)) ? new Date(lastModifiedRaw) : new Date(0);
    const strong = etag && /^"[^"]*"$/.test(etag) ? etag : undefined;
    return {
      size,
      etag: strong ?? `"sf-${createHash('sha1').update(`${etag ?? ''}\u0000${lastModifiedRaw ?? ''}\u0000${size}`).digest('hex').slice(0, 32)}"`,
      lastModified,
      contentType: header(headers, 'content-type') ?? contentTypeFor(key),
    };
  }

  const totalOf = (headers: IncomingHttpHeaders) => Number(/\/(\d+)\s*$/.exec(header(headers, 'content-range') ?? '')?.[1] ?? NaN);

  async function stat(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectStat> {
    validateBucket(bucket);
    validateKey(key);
    const path = pathOf(bucket, key);
    const head = await request('HEAD', path, {}, signal);
    if (head.statusCode === 200) {
      await head.body.dump?.();
      const length = Number(header(head.headers, 'content-length'));
      if (Number.isFinite(length)) return statFrom(head.headers, length, key);
    } else if (head.statusCode !== 405 && head.statusCode !== 501) {
      await refuse(head, bucket, key, 'HEAD');
    } else {
      await head.body.dump?.();
    }
    // No HEAD (or no length in it): the first byte tells the size in Content-Range.
    const probe = await request('GET', path, { range: 'bytes=0-0' }, signal);
    if (probe.statusCode === 206) {
      await probe.body.dump?.();
      return statFrom(probe.headers, totalOf(probe.headers), key);
    }
    if (probe.statusCode === 416) {
      await probe.body.dump?.();
      return statFrom(probe.headers, 0, key);
    }
    if (probe.statusCode === 200) {
      // An origin without ranges: the length is in the headers; the body is not read.
      probe.body.destroy();
      const length = Number(header(probe.headers, 'content-length'));
      if (Number.isFinite(length)) return statFrom(probe.headers, length, key);
      throw errors.originFailed(`The origin gives no length for ${bucket}/${key}.`);
    }
    return refuse(probe, bucket, key, 'GET');
  }

  return {
    description,
    readOnly: true,
    stat: (bucket, key) => stat(bucket, key),
    async read(bucket, key, range?: ByteRange, readOptions?: ReadOptions) {
      validateBucket(bucket);
      validateKey(key);
      const headers: Record<string, string> = {};
      if (range) headers.range = `bytes=${range.start}-${range.end}`;
      // A derived ETag is ours, not the origin's: it is checked against the response instead.
      const ifMatch = readOptions?.ifMatch;
      const originEtag = ifMatch !== undefined && !ifMatch.startsWith('"sf-') ? ifMatch : undefined;
      if (originEtag) headers['if-match'] = originEtag;
      const res = await request('GET', pathOf(bucket, key), headers, readOptions?.signal);
      if (res.statusCode !== 200 && res.statusCode !== 206) return refuse(res, bucket, key, 'GET');
      const size = res.statusCode === 206 ? totalOf(res.headers) : Number(header(res.headers, 'content-length'));
      if (ifMatch !== undefined && Number.isFinite(size) && statFrom(res.headers, size, key).etag !== ifMatch) {
        res.body.destroy();
        throw errors.objectChanged(key);
      }
      const body = res.body;
      const mapped = (stream: Readable) => {
        // Timeouts and resets in the middle of the body surface as AppErrors like any other failure.
        const out = new Transform({
          transform(chunk, _encoding, done) {
            done(null, chunk);
          },
        });
        stream.on('error', (err) => out.destroy(mapTransportError(err, timeoutMs, `GET ${bucket}/${key}`) as Error));
        out.on('close', () => stream.destroy());
        return stream.pipe(out);
      };
      if (range && res.statusCode === 200) {
        // The origin ignored Range: correct, if wasteful.
        return sliceStream(mapped(body), range.start, range.end - range.start + 1);
      }
      if (range && res.statusCode === 206) {
        const start = Number(/bytes\s+(\d+)-/.exec(header(res.headers, 'content-range') ?? '')?.[1] ?? NaN);
        if (start !== range.start) {
          body.destroy();
          throw errors.originFailed(`The origin answered a range of ${bucket}/${key} starting at ${start}, not ${range.start}.`);
        }
      }
      return mapped(body);
    },
    async write() {
      throw errors.readOnlyStorage(description);
    },
  };
}
