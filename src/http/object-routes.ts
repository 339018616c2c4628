// GET/HEAD of an object URL: with `x-oss-process` a captured frame, without it the object itself.
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import type { Capture, SnapshotResult } from '../core/capture.js';
import type { Histogram } from '../core/metrics.js';
import { errors } from '../errors.js';
import { canonicalSnapshot, parseSnapshotProcess, type SnapshotPlan } from '../process/snapshot.js';
import type { StatCache } from '../source/stat-cache.js';
import { contentTypeFor, validateBucket, validateKey, type ObjectStat, type ObjectStore } from '../source/store.js';
import type { AccessControl } from './access.js';
import { evaluateConditions, evaluateRange } from './conditional.js';
import { requestHeader, requestHeaders, requestSignal, withRequestId, type AppEnv } from './context.js';

export interface ObjectRoutesDeps {
  store: ObjectStore;
  /** Source stats for snapshots, trusted for a short interval (STILLFRAME_SOURCE_REVALIDATE_MS). */
  stats: StatCache;
  capture: Capture;
  /** Time of capture.snapshot() by cache outcome. */
  snapshotSeconds?: Histogram;
  domain: string | undefined;
  maxOutputDimension: number;
  snapshotCacheControl: string;
  objectCacheControl: string;
  /** PUT /{bucket}/{key} uploads; absent or disabled → 405. */
  put?: { enabled: boolean; maxBytes: number };
  /** Signatures and bucket ACLs (src/http/access.ts); open when no keys exist. */
  access: AccessControl;
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

function snapshotEtag(sourceEtag: string, canonical: string): string {
  return `"${createHash('sha1').update(`${sourceEtag}\u0000${canonical}`).digest('hex').slice(0, 32)}"`;
}

// A cached hit repeats the same few process strings against the same stat: their parse and their ETag
// (a SHA-1) are remembered rather than recomputed per request. Bounded; only valid plans are kept.
const MAX_PLANS = 1000;
type ParsedProcess = { plan: SnapshotPlan; canonical: string };

function createPlanCache(maxOutputDimension: number) {
  const plans = new Map<string, ParsedProcess>();
  return (process: string): ParsedProcess => {
    let parsed = plans.get(process);
    if (!parsed) {
      const plan = parseSnapshotProcess(process, { maxOutputDimension });
      parsed = { plan, canonical: canonicalSnapshot(plan) };
      if (plans.size >= MAX_PLANS) plans.clear();
      plans.set(process, parsed);
    }
    return parsed;
  };
}

// Keyed by the stat object itself: the stat cache hands out one object per revalidation interval.
const etags = new WeakMap<ObjectStat, Map<string, string>>();
function etagOf(stat: ObjectStat, canonical: string): string {
  let byCanonical = etags.get(stat);
  if (!byCanonical) {
    byCanonical = new Map();
    etags.set(stat, byCanonical);
  }
  let etag = byCanonical.get(canonical);
  if (etag === undefined) {
    etag = snapshotEtag(stat.etag, canonical);
    if (byCanonical.size < MAX_PLANS) byCanonical.set(canonical, etag);
  }
  return etag;
}

const ms = (value: number) => value.toFixed(1);
const HIT_TIMING = `open;dur=${ms(0)}, decode;dur=${ms(0)}, encode;dur=${ms(0)}, total;dur=`;

function serverTiming(result: SnapshotResult, total: number): string {
  const { open, decode, encode } = result.timings;
  if (open === 0 && decode === 0 && encode === 0) return HIT_TIMING + ms(total);
  return `open;dur=${ms(open)}, decode;dur=${ms(decode)}, encode;dur=${ms(encode)}, total;dur=${ms(total)}`;
}

function snapshotValidators(etag: string, stat: ObjectStat, cacheControl: string): Record<string, string> {
  return { ETag: etag, 'Last-Modified': httpDate(stat.lastModified), 'Cache-Control': cacheControl };
}

// Last-Modified of a stat, formatted once per stat object (the stat cache reuses them).
const httpDates = new WeakMap<Date, string>();
function httpDate(date: Date): string {
  let text = httpDates.get(date);
  if (text === undefined) {
    text = date.toUTCString();
    httpDates.set(date, text);
  }
  return text;
}

export function createObjectRoutes(deps: ObjectRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const parseProcess = createPlanCache(deps.maxOutputDimension);

  app.on(['GET', 'HEAD'], '*', async (c) => {
    const url = c.get('url') ?? new URL(c.req.url);
    if (url.search.length > MAX_QUERY_LENGTH) throw errors.invalidArgument(`The query string is longer than ${MAX_QUERY_LENGTH} characters.`);
    const { bucket, key } = locateObject(deps.domain ? (requestHeader(c, 'host') ?? '') : '', url.pathname, deps.domain);
    // Before anything is read: a private object's existence is not revealed to an unsigned request.
    deps.access.authorizeObject(() => c.req.raw, url, bucket, key, 'read');
    const processes = url.searchParams.getAll('x-oss-process');
    if (processes.length > 1) throw errors.malformedProcess('x-oss-process appears more than once.');
    const process = processes[0];
    const isHead = c.req.method === 'HEAD';

    if (process !== undefined) {
      const { plan, canonical } = parseProcess(process);
      let stat = await deps.stats.stat(bucket, key);
      let etag = etagOf(stat, canonical);
      // Answered from the source's stat alone: a revalidating CDN costs no decoding.
      let condition = evaluateConditions(requestHeaders(c), { etag, lastModified: stat.lastModified });
      if (condition) return c.body(null, condition, snapshotValidators(etag, stat, deps.snapshotCacheControl));
      const signal = requestSignal(c);
      const started = performance.now();
      let result: SnapshotResult;
      try {
        result = await deps.capture.snapshot(bucket, key, stat, plan, signal, canonical);
      } catch (err) {
        // The stat may be up to STILLFRAME_SOURCE_REVALIDATE_MS old: an object rewritten meanwhile fails
        // reads pinned to its old ETag. Once more with the current stat, if it did change.
        deps.stats.forget(bucket, key);
        const current = await deps.stats.stat(bucket, key).catch(() => stat);
        if (current.etag === stat.etag || signal.aborted) throw err;
        stat = current;
        etag = etagOf(stat, canonical);
        condition = evaluateConditions(requestHeaders(c), { etag, lastModified: stat.lastModified });
        if (condition) return c.body(null, condition, snapshotValidators(etag, stat, deps.snapshotCacheControl));
        result = await deps.capture.snapshot(bucket, key, stat, plan, signal, canonical);
      }
      const total = performance.now() - started;
      c.set('cacheHit', result.cacheHit);
      deps.snapshotSeconds?.observe(total / 1000, { cache: result.cacheHit ? 'hit' : 'miss' });
      // Plain header object, request id included: @hono/node-server writes it without building Headers.
      const headers = withRequestId(c, snapshotValidators(etag, stat, deps.snapshotCacheControl)) as Record<string, string>;
      headers['Content-Type'] = result.contentType;
      headers['Content-Length'] = String(result.body.length);
      headers['X-Frame-Time'] = String(result.frameTimeMs);
      headers['X-Frame-Keyframe'] = result.keyframe ? '1' : '0';
      headers['X-Cache'] = result.cacheHit ? 'HIT' : 'MISS';
      headers['Server-Timing'] = serverTiming(result, total);
      // A view of the cached bytes, not a copy: the cache never mutates an entry.
      return new Response(isHead ? null : new Uint8Array(result.body.buffer, result.body.byteOffset, result.body.byteLength), { status: 200, headers });
    }

    const stat = await deps.store.stat(bucket, key);
    const validators = { etag: stat.etag, lastModified: stat.lastModified };
    const common: Record<string, string> = {
      ETag: stat.etag,
      'Last-Modified': stat.lastModified.toUTCString(),
      'Cache-Control': deps.objectCacheControl,
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

  app.all('*', (c) => {
    throw errors.methodNotAllowed(c.req.method);
  });

  return app;
}
