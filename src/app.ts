// The HTTP application: request ids, access log and metrics around small mounted sub-apps, and one error
// renderer. Routes only translate between HTTP and the core.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { LATENCY_BUCKETS } from './core/metrics.js';
import type { Deps } from './deps.js';
import { AbortedError, type AppError, errors, toAppError } from './errors.js';
import type { AppEnv } from './http/context.js';
import { createAccessControl } from './http/access.js';
import { limitRequestBodies } from './http/body-limit.js';
import { createImmHandler, createTaskSubmitter, immErrorResponse, isImmRequest } from './http/imm-routes.js';
import { createObjectRoutes } from './http/object-routes.js';
import { createOpsRoutes } from './http/ops-routes.js';
import { ossErrorBody, ossErrorHeaders } from './http/oss-errors.js';
import { createStyleHandler, isStyleRequest } from './http/style-routes.js';

// OSS request ids are 24 upper-case hex characters: a random per-process prefix and a counter — unique
// across a fleet, and no random-number call on the hot path.
const requestIdPrefix = randomBytes(8).toString('hex').toUpperCase();
let requestCounter = 0;
const newRequestId = () => {
  requestCounter = (requestCounter + 1) >>> 0;
  return requestIdPrefix + requestCounter.toString(16).toUpperCase().padStart(8, '0');
};

export function createApp(deps: Deps): Hono<AppEnv> {
  const { config, metrics, log } = deps;
  const app = new Hono<AppEnv>();
  const requests = metrics.counter('stillframe_http_requests_total', 'HTTP requests by route kind, method and status', ['route', 'method', 'status']);
  const duration = metrics.histogram('stillframe_http_request_duration_seconds', 'HTTP request latency by route kind', LATENCY_BUCKETS, ['route']);
  // The name predates image processing: it times every `x-oss-process` answer (frames and images).
  const processSeconds = metrics.histogram('stillframe_snapshot_seconds', 'x-oss-process answer time (result cache hit, or capture and processing) by cache outcome', LATENCY_BUCKETS, ['cache']);

  app.use('*', async (c, next) => {
    const requestId = newRequestId();
    const started = performance.now();
    const url = new URL(c.req.url);
    c.set('requestId', requestId);
    c.set('url', url);
    c.set('log', log.child({ requestId }));
    await next();
    const { method } = c.req;
    const res = c.res;
    // Routes that answer with plain headers include the id themselves (withRequestId); on other
    // responses it is set in place: c.header() after the handler would copy the whole response.
    if (!c.get('requestIdSet')) {
      try {
        res.headers.set('x-oss-request-id', requestId);
      } catch {
        c.header('x-oss-request-id', requestId);
      }
    }
    const path = url.pathname;
    const ops = path.startsWith('/_/');
    const ossProcess = ops ? undefined : (url.searchParams.get('x-oss-process') ?? undefined);
    const route = ops ? 'ops' : c.get('action') !== undefined || isImmRequest(method, url) ? 'imm' : ossProcess !== undefined ? 'snapshot' : 'object';
    const seconds = (performance.now() - started) / 1000;
    const status = res.status;
    requests.inc({ route, method, status: String(status) });
    duration.observe(seconds, { route });
    if (!ops) {
      const cacheHit = c.get('cacheHit');
      // The fields of the request's logger (c.get('log'): its id, and the IMM Action once the IMM
      // route has read it), written directly: merging bindings costs more than this line's JSON.
      log.info('request', {
        requestId,
        action: c.get('action'),
        method,
        path,
        // The process string is logged; signatures and credentials in the query never are.
        process: ossProcess,
        status,
        ms: Math.round(seconds * 1000),
        cache: cacheHit === undefined ? undefined : cacheHit ? 'hit' : 'miss',
      });
    }
  });

  // Before any route: no handler parses or signature-checks a body over the limit (object PUTs stream).
  app.use('*', limitRequestBodies(config.http.maxBodyBytes));

  app.route(
    '/_',
    createOpsRoutes({
      metrics,
      engine: deps.pool,
      storage: deps.store.description,
      version: deps.version,
      isDraining: deps.isDraining,
      limiter: deps.limiter,
      token: config.opsToken,
    }),
  );
  app.all('/_/*', (c) => {
    throw errors.noSuchEndpoint(c.get('url')?.pathname ?? '/_/');
  });
  // IMM RPC actions (POST /, GET /?Action=…) before the object routes; anything else falls through.
  // Access keys gate both APIs: RPC signatures on IMM actions, OSS signatures and bucket ACLs on objects.
  const access = createAccessControl({ keys: config.accessKeys, ...config.access });
  const taskLimits = { maxOutputDimension: config.limits.maxOutputDimension, maxFramesPerTask: config.tasks.maxFramesPerTask };
  const imm = createImmHandler({ tasks: deps.tasks, accessKeys: config.accessKeys, nonces: deps.nonces, access, limits: taskLimits });
  app.use('/', async (c, next) => (isImmRequest(c.req.method, c.get('url'), c.req.raw.headers) ? imm(c) : next()));
  // Bucket-level `?style` requests (PutStyle, GetStyle, ListStyle, DeleteStyle) before the object routes;
  // an object URL carrying `style` falls through to them.
  const styles = createStyleHandler({
    styles: deps.styles,
    access,
    domain: config.domain,
    maxBodyBytes: config.http.maxBodyBytes,
    limits: { maxOutputDimension: config.limits.maxOutputDimension },
  });
  app.use('*', async (c, next) => {
    const answer = isStyleRequest(c.get('url')) ? await styles(c) : undefined;
    return answer ?? next();
  });
  app.route(
    '/',
    createObjectRoutes({
      store: deps.store,
      stats: deps.stats,
      capture: deps.capture,
      styles: deps.styles,
      processSeconds,
      domain: config.domain,
      maxOutputDimension: config.limits.maxOutputDimension,
      snapshotCacheControl: config.http.snapshotCacheControl,
      objectCacheControl: config.http.objectCacheControl,
      publicUrl: config.http.publicUrl,
      put: config.put,
      access,
      // OSS asynchronous processing submits IMM tasks through the RPC action's own path.
      asyncProcess: { tasks: deps.tasks, submit: createTaskSubmitter({ tasks: deps.tasks, access, limits: taskLimits }) },
    }),
  );

  app.onError((err, c) => {
    // The client went away: nobody reads this answer; 499 marks it in logs and metrics (as nginx does).
    if (err instanceof AbortedError) return new Response(null, { status: 499 });
    const appError: AppError = toAppError(err);
    const reqLog = c.get('log') ?? log;
    // The AppError with its cause chain: what was answered (status, code) and why (the cause).
    if (appError.status >= 500 && appError.status !== 503) reqLog.error('request failed', { err: appError });
    else reqLog.debug('client error', { code: appError.code, message: appError.message });
    // Errors raised before a route ran (the body limit) answer in the protocol of the request.
    if (isImmRequest(c.req.method, c.get('url') ?? new URL(c.req.url), c.req.raw.headers)) return immErrorResponse(c, appError);
    const headers = ossErrorHeaders(appError);
    const body = c.req.method === 'HEAD' ? null : ossErrorBody(appError, c.get('requestId'), c.req.header('host') ?? '');
    return new Response(body, { status: appError.status, headers });
  });

  return app;
}
