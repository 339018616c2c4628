// `x-oss-process` on an object: GET/HEAD answers the processed image (a frame, an image processed, or
// a frame then image actions), POST with `sys/saveas` writes it to an object instead. One resolution for
// both: parse (remembered per process string), look a `style/` up in the bucket, choose `format,auto` by
// Accept, stat the image watermarks (their ETags are part of the answer's), then the capture core.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import type { Capture, ProcessResult, ProcessWork } from '../core/capture.js';
import type { Histogram } from '../core/metrics.js';
import { errors } from '../errors.js';
import { watermarkKeys } from '../image/actions.js';
import { canonicalProcess, parseProcess, parseSaveAsBody, resolveAutoFormat, type ImageAction, type ProcessRequest } from '../process/image-process.js';
import { spriteProcess, storyboardJson, storyboardVtt, type PreviewPlan, type StoryboardTimeline } from '../process/preview-process.js';
import type { StatCache } from '../source/stat-cache.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import type { StyleStore } from '../styles/store.js';
import type { AccessControl, PresignAs } from './access.js';
import { cacheControlFor } from './cache-policy.js';
import { evaluateConditions } from './conditional.js';
import { requestHeader, requestHeaders, requestSignal, withRequestId, type AppEnv } from './context.js';

export interface ProcessRoutesDeps {
  store: ObjectStore;
  /** Source stats, trusted for a short interval (STILLFRAME_SOURCE_REVALIDATE_MS). */
  stats: StatCache;
  capture: Capture;
  styles: StyleStore;
  access: AccessControl;
  /** Time of capture.process() by cache outcome. */
  processSeconds?: Histogram;
  maxOutputDimension: number;
  cacheControl: string;
  /** STILLFRAME_PUBLIC_URL: the base of the URLs handed out (a storyboard's sheets); undefined = the request's. */
  publicUrl: string | undefined;
}

/** A parsed process whose style (if any) is resolved: what the capture core is asked for. */
type Resolved = { request: Exclude<ProcessRequest, { kind: 'style' }> };

type StoryboardPlan = Extract<PreviewPlan, { type: 'storyboard' }>;

// A cached hit repeats the same few process strings: their parse is remembered. Bounded; only valid
// processes are kept. Styles are not (their content can change).
const MAX_PARSED = 1000;

const ms = (value: number) => value.toFixed(1);
const HOUR_MS = 3_600_000;

function answerEtag(sourceEtag: string, canonical: string): string {
  return `"${createHash('sha1').update(`${sourceEtag}\u0000${canonical}`).digest('hex').slice(0, 32)}"`;
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
    etag = answerEtag(stat.etag, canonical);
    if (byCanonical.size < MAX_PARSED) byCanonical.set(canonical, etag);
  }
  return etag;
}

// Last-Modified of a stat, formatted once per stat object.
const httpDates = new WeakMap<Date, string>();
function httpDate(date: Date): string {
  let text = httpDates.get(date);
  if (text === undefined) {
    text = date.toUTCString();
    httpDates.set(date, text);
  }
  return text;
}

const HIT_TIMING = `open;dur=${ms(0)}, decode;dur=${ms(0)}, encode;dur=${ms(0)}, total;dur=`;
function serverTiming(result: ProcessResult, total: number): string {
  const { open, decode, encode } = result.timings;
  if (open === 0 && decode === 0 && encode === 0) return HIT_TIMING + ms(total);
  return `open;dur=${ms(open)}, decode;dur=${ms(decode)}, encode;dur=${ms(encode)}, total;dur=${ms(total)}`;
}

export function createProcessHandlers(deps: ProcessRoutesDeps) {
  const limits = { maxOutputDimension: deps.maxOutputDimension };
  const parsed = new Map<string, ProcessRequest>();
  const parse = (process: string): ProcessRequest => {
    let request = parsed.get(process);
    if (!request) {
      request = parseProcess(process, limits);
      if (parsed.size >= MAX_PARSED) parsed.clear();
      parsed.set(process, request);
    }
    return request;
  };

  async function resolve(bucket: string, request: ProcessRequest): Promise<Resolved['request']> {
    if (request.kind !== 'style') return request;
    const style = await deps.styles.get(bucket, request.name);
    if (!style) throw errors.noSuchStyle(request.name);
    const content = parse(style.content);
    if (content.kind === 'style') throw errors.invalidArgument(`The style "${request.name}" refers to another style.`);
    return content;
  }

  /** Everything the answer depends on: the request, its negotiated format, its watermarks' versions. */
  async function prepare(c: Context<AppEnv>, bucket: string, process: string): Promise<{ work: ProcessWork; canonical: string; vary: boolean; storyboard?: StoryboardPlan }> {
    const request = await resolve(bucket, parse(process));
    if (request.kind === 'preview') {
      const work: ProcessWork = { kind: 'preview', plan: request.preview };
      const canonical = canonicalProcess(request);
      return request.preview.type === 'storyboard' ? { work, canonical, vary: false, storyboard: request.preview } : { work, canonical, vary: false };
    }
    const auto = resolveAutoFormat(request.actions, requestHeader(c, 'accept'));
    const actions: ImageAction[] = auto.actions;
    const resolved: ProcessRequest = request.kind === 'snapshot' ? { ...request, actions } : { kind: 'image', actions };
    const watermarks = new Map<string, ObjectStat>();
    for (const key of watermarkKeys(actions)) watermarks.set(key, await deps.stats.stat(bucket, key));
    let canonical = canonicalProcess(resolved);
    for (const [key, stat] of watermarks) canonical += `\u0000${key}\u0000${stat.etag}`;
    const work: ProcessWork =
      resolved.kind === 'snapshot' ? { kind: 'snapshot', plan: resolved.snapshot, actions, watermarks } : { kind: 'image', actions, watermarks };
    return { work, canonical, vary: auto.negotiated };
  }

  /**
   * Runs the work; an object rewritten since its stat was cached (reads pinned to the old ETag fail) is
   * tried once more with the current stat.
   */
  async function run(bucket: string, key: string, stat: ObjectStat, work: ProcessWork, canonical: string, signal: AbortSignal, onRestat: (stat: ObjectStat) => Response | undefined) {
    try {
      return { stat, result: await deps.capture.process(bucket, key, stat, work, canonical, signal) };
    } catch (err) {
      deps.stats.forget(bucket, key);
      const current = await deps.stats.stat(bucket, key).catch(() => stat);
      if (current.etag === stat.etag || signal.aborted) throw err;
      const early = onRestat(current);
      if (early) return { stat: current, early };
      return { stat: current, result: await deps.capture.process(bucket, key, current, work, canonical, signal) };
    }
  }

  /**
   * A storyboard's sheet URLs, each with the sheet's `video/sprite` process. Under STILLFRAME_PUBLIC_URL
   * when set, else this request's scheme (X-Forwarded-Proto when a proxy says https), Host and path. A
   * signed storyboard lists signed sheets (the key may read this object): a V1 or V4 presigned one with
   * the same key and expiry; a header-signed one V1-presigned for the rest of this hour and the next.
   */
  function sheetUrls(c: Context<AppEnv>, url: URL, bucket: string, key: string, plan: StoryboardPlan, principal: string | undefined) {
    const base = publicBase(c, url, bucket, key);
    const signing = principal === undefined ? undefined : signingOf(url, principal);
    const sheetUrl = (sheet: number) => {
      const query: Record<string, string> = { 'x-oss-process': spriteProcess(plan.spec, sheet) };
      Object.assign(query, signing && deps.access.presign(bucket, key, query, signing));
      return `${base}?${Object.entries(query).map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&')}`;
    };
    // The text depends on these as well as on the source: part of its ETag.
    return { sheetUrl, variant: `\u0000${base}\u0000${signing ? JSON.stringify(signing) : ''}` };
  }

  function publicBase(c: Context<AppEnv>, url: URL, bucket: string, key: string): string {
    const path = key.split('/').map(encodeURIComponent).join('/');
    if (deps.publicUrl?.includes('{bucket}')) return `${deps.publicUrl.replace('{bucket}', bucket)}/${path}`;
    if (deps.publicUrl) return `${deps.publicUrl}/${encodeURIComponent(bucket)}/${path}`;
    const forwarded = requestHeader(c, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
    const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : url.protocol.slice(0, -1);
    return `${scheme}://${requestHeader(c, 'host') ?? url.host}${url.pathname}`;
  }

  /** How the sheets are signed, after how this request was (its signature is already verified). */
  function signingOf(url: URL, accessKeyId: string): PresignAs {
    const q = url.searchParams;
    const [credential, date, expires] = [q.get('x-oss-credential'), q.get('x-oss-date'), q.get('x-oss-expires')];
    if (credential && date && expires) return { version: 4, accessKeyId, credential, date, expires };
    const v1Expires = q.get('Expires');
    if (v1Expires && q.has('Signature')) return { version: 1, accessKeyId, expires: v1Expires };
    // Header-signed: valid at least an hour, the same URLs (and ETag) all hour long.
    return { version: 1, accessKeyId, expires: String((Math.floor(Date.now() / HOUR_MS) + 2) * (HOUR_MS / 1000)) };
  }

  /**
   * GET/HEAD with `x-oss-process`: the processed image, or 304 from the source's stat alone. `principal`:
   * who signed the request (already verified), which decides its Cache-Control and a storyboard's links.
   */
  async function answer(c: Context<AppEnv>, url: URL, bucket: string, key: string, process: string, principal: string | undefined): Promise<Response> {
    const { work, canonical, vary, storyboard } = await prepare(c, bucket, process);
    const urls = storyboard ? sheetUrls(c, url, bucket, key, storyboard, principal) : undefined;
    const etagKey = urls ? canonical + urls.variant : canonical;
    const cacheControl = cacheControlFor(deps.cacheControl, deps.access, principal, bucket, url);
    const validators = (stat: ObjectStat) => {
      const headers: Record<string, string> = { ETag: etagOf(stat, etagKey), 'Last-Modified': httpDate(stat.lastModified), 'Cache-Control': cacheControl };
      if (vary) headers.Vary = 'Accept';
      return headers;
    };
    const notModified = (stat: ObjectStat) => {
      const condition = evaluateConditions(requestHeaders(c), { etag: etagOf(stat, etagKey), lastModified: stat.lastModified });
      return condition ? c.body(null, condition, validators(stat)) : undefined;
    };
    const first = await deps.stats.stat(bucket, key);
    // Answered from the source's stat alone: a revalidating CDN costs no decoding.
    const early = notModified(first);
    if (early) return early;
    const started = performance.now();
    const outcome = await run(bucket, key, first, work, canonical, requestSignal(c), notModified);
    if (outcome.early) return outcome.early;
    const result = outcome.result!;
    const total = performance.now() - started;
    c.set('cacheHit', result.cacheHit);
    deps.processSeconds?.observe(total / 1000, { cache: result.cacheHit ? 'hit' : 'miss' });
    // Plain header object, request id included: @hono/node-server writes it without building Headers.
    const headers = withRequestId(c, validators(outcome.stat)) as Record<string, string>;
    let body = result.body;
    headers['Content-Type'] = result.contentType;
    if (storyboard && urls) {
      // The cached result is the timeline; the text is made per request (its URLs are this request's).
      const timeline = JSON.parse(result.body.toString()) as StoryboardTimeline;
      const vtt = storyboard.output === 'vtt';
      body = Buffer.from(vtt ? storyboardVtt(storyboard.spec, timeline, urls.sheetUrl) : storyboardJson(storyboard.spec, timeline, urls.sheetUrl));
      headers['Content-Type'] = vtt ? 'text/vtt; charset=utf-8' : 'application/json';
    }
    headers['Content-Length'] = String(body.length);
    if (result.frame) {
      headers['X-Frame-Time'] = String(result.frame.timeMs);
      headers['X-Frame-Keyframe'] = result.frame.keyframe ? '1' : '0';
    }
    headers['X-Cache'] = result.cacheHit ? 'HIT' : 'MISS';
    headers['Server-Timing'] = serverTiming(result, total);
    const isHead = c.req.method === 'HEAD';
    // A view of the cached bytes, not a copy: the cache never mutates an entry.
    return new Response(isHead ? null : new Uint8Array(body.buffer, body.byteOffset, body.byteLength), { status: 200, headers });
  }

  /**
   * POST /{bucket}/{key}?x-oss-process with `x-oss-process=<process>|sys/saveas,o_…[,b_…]`: the result is
   * written through the storage adapter (write access to the target checked) and described as OSS does.
   */
  async function saveAs(c: Context<AppEnv>, bucket: string, key: string, principal: string | undefined): Promise<Response> {
    const { process, saveAs: target } = parseSaveAsBody(await c.req.text());
    const targetBucket = target.bucket ?? bucket;
    // The signature was checked on the source's URL; the same key must be allowed to write the target.
    if (!deps.access.mayWrite(principal, targetBucket)) {
      throw principal === undefined
        ? errors.ossDenied(`Saving to bucket "${targetBucket}" needs a signed request.`)
        : errors.ossDenied(`The AccessKeyId ${principal} may not write bucket "${targetBucket}".`);
    }
    if (deps.store.readOnly) throw errors.readOnlyStorage(deps.store.description);
    const { work, canonical, storyboard } = await prepare(c, bucket, process);
    if (storyboard) throw errors.imageProcess('A video/storyboard is an index of URLs: it cannot be saved with sys/saveas (save its sheets, video/sprite).');
    const stat = await deps.stats.stat(bucket, key);
    const outcome = await run(bucket, key, stat, work, canonical, requestSignal(c), () => undefined);
    const result = outcome.result!;
    const written = await deps.store.write(targetBucket, target.key, Readable.from([result.body]), result.contentType);
    deps.stats.forget(targetBucket, target.key);
    const headers = withRequestId(c, { 'Content-Type': 'application/json', ETag: written.etag });
    return new Response(JSON.stringify({ bucket: targetBucket, fileSize: result.body.length, object: target.key, status: 'OK' }), { status: 200, headers });
  }

  return { answer, saveAs };
}
