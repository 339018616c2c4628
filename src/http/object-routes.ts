// An object URL: GET/HEAD answers the object itself, or with `x-oss-process` a frame or a processed image
// (src/http/process-routes.ts); PUT uploads; POST `?x-oss-process` saves a processed result (`sys/saveas`);
// POST `?x-oss-async-process` submits an IMM task for it (src/http/async-process-routes.ts).
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import type { Capture } from '../core/capture.js';
import type { Histogram } from '../core/metrics.js';
import { errors } from '../errors.js';
import type { StatCache } from '../source/stat-cache.js';
import type { StyleStore } from '../styles/store.js';
import { contentTypeFor, validateBucket, validateKey, type ObjectStore } from '../source/store.js';
import type { AccessControl } from './access.js';
import { cacheControlFor } from './cache-policy.js';
import { createAsyncProcessHandler, type AsyncProcessDeps } from './async-process-routes.js';
import { evaluateConditions, evaluateRange } from './conditional.js';
import { requestHeader, requestHeaders, type AppEnv } from './context.js';
import { createProcessHandlers } from './process-routes.js';

export interface ObjectRoutesDeps {
  store: ObjectStore;
  /** Source stats for snapshots, trusted for a short interval (STILLFRAME_SOURCE_REVALIDATE_MS). */
  stats: StatCache;
  capture: Capture;
  /** Bucket styles (`x-oss-process=style/<name>`). */
  styles: StyleStore;
  /** Time of capture.process() by cache outcome. */
  processSeconds?: Histogram;
  domain: string | undefined;
  maxOutputDimension: number;
  snapshotCacheControl: string;
  objectCacheControl: string;
  /** STILLFRAME_PUBLIC_URL: the base of the URLs handed out (a storyboard's sheets); undefined = the request's. */
  publicUrl: string | undefined;
  /** PUT /{bucket}/{key} uploads; absent or disabled → 405. */
  put?: { enabled: boolean; maxBytes: number };
  /** Signatures and bucket ACLs (src/http/access.ts); open when no keys exist. */
  access: AccessControl;
  /** POST `?x-oss-async-process` (IMM tasks); absent → 405. */
  asyncProcess?: Pick<AsyncProcessDeps, 'tasks' | 'submit'>;
}

// Longer query strings carry no legitimate request and are refused before any parsing.
const MAX_QUERY_LENGTH = 4096;

/** Path-style `/bucket/key`, or virtual-hosted `bucket.<domain>/key`. */
export function locateObject(host: string, rawPath: string, domain: string | undefined): { bucket: string; key: string } {
  // Without STILLFRAME_DOMAIN the Host header plays no part (and costs nothing).
  const hostname = domain ? host.replace(/:\d+$/, '').toLowerCase() : '';
  let bucket: string;
  let rawKey: string;
  if (domain && hostname.endsWith(`.${domain}`)) {
    bucket = hostname.slice(0, -(domain.length + 1));
    rawKey = rawPath.slice(1);
  } else {
    const slash = rawPath.indexOf('/', 1);
    bucket = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash);
    rawKey = slash < 0 ? '' : rawPath.slice(slash + 1);
  }
  let key: string;
  try {
    key = decodeURIComponent(rawKey);
    bucket = decodeURIComponent(bucket);
  } catch {
    throw errors.invalidObjectName('The object key is not valid percent-encoding.');
  }
  return { bucket, key };
}

function oneProcess(url: URL): string | undefined {
  const values = url.searchParams.getAll('x-oss-process');
  if (values.length > 1) throw errors.malformedProcess('x-oss-process appears more than once.');
  return values[0];
}

export function createObjectRoutes(deps: ObjectRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const processes = createProcessHandlers({
    store: deps.store,
    stats: deps.stats,
    capture: deps.capture,
    styles: deps.styles,
    access: deps.access,
    processSeconds: deps.processSeconds,
    maxOutputDimension: deps.maxOutputDimension,
    cacheControl: deps.snapshotCacheControl,
    publicUrl: deps.publicUrl,
  });
  const asyncProcess = deps.asyncProcess && createAsyncProcessHandler({ ...deps.asyncProcess, access: deps.access, stats: deps.stats });

  app.on(['GET', 'HEAD'], '*', async (c) => {
    const url = c.get('url') ?? new URL(c.req.url);
    if (url.search.length > MAX_QUERY_LENGTH) throw errors.invalidArgument(`The query string is longer than ${MAX_QUERY_LENGTH} characters.`);
    // Only by POST, with the process in the body (OSS answers 400 too).
    if (url.searchParams.has('x-oss-async-process')) throw errors.asyncProcessNotAllowed();
    const { bucket, key } = locateObject(deps.domain ? (requestHeader(c, 'host') ?? '') : '', url.pathname, deps.domain);
    // Before anything is read: a private object's existence is not revealed to an unsigned request.
    const principal = deps.access.authorizeObject(() => c.req.raw, url, bucket, key, 'read');
    const process = oneProcess(url);
    const isHead = c.req.method === 'HEAD';

    if (process !== undefined) return processes.answer(c, url, bucket, key, process, principal);

    const stat = await deps.store.stat(bucket, key);
    const validators = { etag: stat.etag, lastModified: stat.lastModified };
    const common: Record<string, string> = {
      ETag: stat.etag,
      'Last-Modified': stat.lastModified.toUTCString(),
      'Cache-Control': cacheControlFor(deps.objectCacheControl, deps.access, principal, bucket, url),
      'Accept-Ranges': 'bytes',
    };
    const condition = evaluateConditions(requestHeaders(c), validators);
    if (condition) return c.body(null, condition, common);
    const range = evaluateRange(requestHeaders(c), stat.size, validators);
    if (range.kind === 'unsatisfiable') throw errors.invalidRange(stat.size);
    const headers = { ...common, 'Content-Type': stat.contentType };
    if (range.kind === 'partial') {
      Object.assign(headers, {
        'Content-Range': `bytes ${range.start}-${range.end}/${stat.size}`,
        'Content-Length': String(range.end - range.start + 1),
      });
    } else {
      Object.assign(headers, { 'Content-Length': String(stat.size) });
    }
    const status = range.kind === 'partial' ? 206 : 200;
    if (isHead) return c.body(null, status, headers);
    const stream = await deps.store.read(bucket, key, range.kind === 'partial' ? range : undefined);
    c.req.raw.signal.addEventListener('abort', () => stream.destroy(), { once: true });
    return c.body(Readable.toWeb(stream) as ReadableStream, status, headers);
  });

  // Uploads stream through to the store (never buffered whole): a running byte count enforces the limit
  // whatever Content-Length said, and Content-MD5, when sent, is checked before the object appears.
  app.put('*', async (c) => {
    const put = deps.put;
    if (!put?.enabled) throw errors.methodNotAllowed('PUT');
    const url = new URL(c.req.url);
    const { bucket, key } = locateObject(c.req.header('host') ?? '', url.pathname, deps.domain);
    validateBucket(bucket);
    validateKey(key);
    deps.access.authorizeObject(() => c.req.raw, url, bucket, key, 'write');
    if (deps.store.readOnly) throw errors.readOnlyStorage(deps.store.description);
    const length = c.req.header('content-length');
    const chunked = /\bchunked\b/i.test(c.req.header('transfer-encoding') ?? '');
    if (length === undefined && !chunked) throw errors.lengthRequired();
    if (length !== undefined && !/^\d+$/.test(length.trim())) throw errors.invalidArgument(`Content-Length "${length}" is not a byte count.`);
    if (length !== undefined && Number(length) > put.maxBytes) throw errors.uploadTooLarge(put.maxBytes);
    const md5 = c.req.header('content-md5');
    const hash = md5 === undefined ? undefined : createHash('md5');
    let received = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > put.maxBytes) return done(errors.uploadTooLarge(put.maxBytes));
        hash?.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        done(hash && hash.digest('base64') !== md5 ? errors.invalidDigest() : null);
      },
    });
    const body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as WebReadableStream) : Readable.from([]);
    const source = pipeline(body, guard, () => {});
    const stat = await deps.store.write(bucket, key, source, c.req.header('content-type') ?? contentTypeFor(key));
    // Whatever store wrote it, a snapshot of this object must not be answered from its old stat.
    deps.stats.forget(bucket, key);
    return c.body(null, 200, { ETag: stat.etag });
  });

  // POST /{bucket}/{key}?x-oss-process: the result saved as an object (`sys/saveas`);
  // POST /{bucket}/{key}?x-oss-async-process: an IMM task that saves it (video/snapshots, sprite, animation).
  app.post('*', async (c) => {
    const url = c.get('url') ?? new URL(c.req.url);
    const sync = url.searchParams.has('x-oss-process');
    const isAsync = url.searchParams.has('x-oss-async-process');
    if (sync && isAsync) throw errors.asyncProcess('A request carries x-oss-process or x-oss-async-process, not both.');
    if ((!sync && !isAsync) || (isAsync && !asyncProcess)) throw errors.methodNotAllowed('POST');
    const { bucket, key } = locateObject(deps.domain ? (requestHeader(c, 'host') ?? '') : '', url.pathname, deps.domain);
    validateBucket(bucket);
    validateKey(key);
    const principal = deps.access.authorizeObject(() => c.req.raw, url, bucket, key, 'read');
    return isAsync ? asyncProcess!(c, bucket, key, principal) : processes.saveAs(c, bucket, key, principal);
  });

  app.all('*', (c) => {
    throw errors.methodNotAllowed(c.req.method);
  });

  return app;
}
