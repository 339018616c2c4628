// GET/HEAD of an object URL: with `x-oss-process` a captured frame, without it the object itself.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import type { Capture } from '../core/capture.js';
import { errors } from '../errors.js';
import { canonicalSnapshot, parseSnapshotProcess } from '../process/snapshot.js';
import type { ObjectStore } from '../source/store.js';
import { evaluateConditions, evaluateRange } from './conditional.js';
import type { AppEnv } from './context.js';

export interface ObjectRoutesDeps {
  store: ObjectStore;
  capture: Capture;
  domain: string | undefined;
  maxOutputDimension: number;
  snapshotCacheControl: string;
  objectCacheControl: string;
}

// Longer query strings carry no legitimate request and are refused before any parsing.
const MAX_QUERY_LENGTH = 4096;

/** Path-style `/bucket/key`, or virtual-hosted `bucket.<domain>/key`. */
export function locateObject(host: string, rawPath: string, domain: string | undefined): { bucket: string; key: string } {
  const hostname = host.replace(/:\d+$/, '').toLowerCase();
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

const ms = (value: number) => value.toFixed(1);

export function createObjectRoutes(deps: ObjectRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.on(['GET', 'HEAD'], '*', async (c) => {
    const url = new URL(c.req.url);
    if (url.search.length > MAX_QUERY_LENGTH) throw errors.invalidArgument(`The query string is longer than ${MAX_QUERY_LENGTH} characters.`);
    const { bucket, key } = locateObject(c.req.header('host') ?? '', url.pathname, deps.domain);
    const processes = url.searchParams.getAll('x-oss-process');
    if (processes.length > 1) throw errors.malformedProcess('x-oss-process appears more than once.');
    const process = processes[0];
    const isHead = c.req.method === 'HEAD';

    if (process !== undefined) {
      const plan = parseSnapshotProcess(process, { maxOutputDimension: deps.maxOutputDimension });
      const stat = await deps.store.stat(bucket, key);
      const etag = snapshotEtag(stat.etag, canonicalSnapshot(plan));
      const validators = { etag, lastModified: stat.lastModified };
      const common = {
        ETag: etag,
        'Last-Modified': stat.lastModified.toUTCString(),
        'Cache-Control': deps.snapshotCacheControl,
      };
      // Answered from the source's stat alone: a revalidating CDN costs no decoding.
      const condition = evaluateConditions(c.req.raw.headers, validators);
      if (condition) return c.body(null, condition, common);
      const started = performance.now();
      const result = await deps.capture.snapshot(bucket, key, stat, plan, c.req.raw.signal);
      const total = performance.now() - started;
      c.set('cacheHit', result.cacheHit);
      const headers = {
        ...common,
        'Content-Type': result.contentType,
        'Content-Length': String(result.body.length),
        'X-Frame-Time': String(result.frameTimeMs),
        'X-Frame-Keyframe': result.keyframe ? '1' : '0',
        'X-Cache': result.cacheHit ? 'HIT' : 'MISS',
        'Server-Timing': `probe;dur=${ms(result.timings.probe)}, decode;dur=${ms(result.timings.decode)}, encode;dur=${ms(result.timings.encode)}, total;dur=${ms(total)}`,
      };
      return new Response(isHead ? null : new Uint8Array(result.body), { status: 200, headers });
    }

    const stat = await deps.store.stat(bucket, key);
    const validators = { etag: stat.etag, lastModified: stat.lastModified };
    const common: Record<string, string> = {
      ETag: stat.etag,
      'Last-Modified': stat.lastModified.toUTCString(),
      'Cache-Control': deps.objectCacheControl,
      'Accept-Ranges': 'bytes',
    };
    const condition = evaluateConditions(c.req.raw.headers, validators);
    if (condition) return c.body(null, condition, common);
    const range = evaluateRange(c.req.raw.headers, stat.size, validators);
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

  app.all('*', (c) => {
    throw errors.methodNotAllowed(c.req.method);
  });

  return app;
}
