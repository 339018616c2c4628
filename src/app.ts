// The HTTP application: request ids, access log and metrics around small mounted sub-apps, and one error
// renderer. Routes only translate between HTTP and the core.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import type { Deps } from './deps.js';
import { AbortedError, AppError, errors, toAppError } from './errors.js';
import type { AppEnv } from './http/context.js';
import { createAccessControl } from './http/access.js';
import { limitRequestBodies } from './http/body-limit.js';
import { createImmHandler, immErrorResponse, isImmRequest } from './http/imm-routes.js';
import { createObjectRoutes } from './http/object-routes.js';
import { createOpsRoutes } from './http/ops-routes.js';
import { ossErrorBody, ossErrorHeaders } from './http/oss-errors.js';

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
  const requests = metrics.counter('stillframe_http_requests_total', 'HTTP requests by route kind, method and status');
  const duration = metrics.histogram('stillframe_http_request_duration_seconds', 'HTTP request latency by route kind', [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  ]);

  app.use('*', async (c, next) => {
    const requestId = newRequestId();
    c.set('requestId', requestId);
    c.set('log', log);
    const started = performance.now();
    await next();
    // Set on the response in place: c.header() after the handler would copy the whole response
    // (measured: ~18% of the CPU of a cached hit).
    try {
      c.res.headers.set('x-oss-request-id', requestId);
    } catch {
      c.header('x-oss-request-id', requestId);
    }
    const url = new URL(c.req.url);
    const route = url.pathname.startsWith('/_/') ? 'ops' : isImmRequest(c.req.method, url) ? 'imm' : url.searchParams.has('x-oss-process') ? 'snapshot' : 'object';
    const seconds = (performance.now() - started) / 1000;
    requests.inc({ route, method: c.req.method, status: String(c.res.status) });
    duration.observe(seconds, { route });
    if (route !== 'ops') {
      log.info('request', {
        requestId,
        method: c.req.method,
        path: url.pathname,
        // The process string is logged; signatures and credentials in the query never are.
        process: url.searchParams.get('x-oss-process') ?? undefined,
        action: route === 'imm' ? (url.searchParams.get('Action') ?? c.req.header('x-acs-action') ?? undefined) : undefined,
        status: c.res.status,
        ms: Math.round(seconds * 1000),
        cache: c.get('cacheHit') === undefined ? undefined : c.get('cacheHit') ? 'hit' : 'miss',
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
  app.all('/_/*', () => {
    throw errors.noSuchKey('/_/ is reserved for the server');
  });
  // IMM RPC actions (POST /, GET /?Action=…) before the object routes; anything else falls through.
  // Access keys gate both APIs: RPC signatures on IMM actions, OSS signatures and bucket ACLs on objects.
  const access = createAccessControl({ keys: config.accessKeys, ...config.access });
  const imm = createImmHandler({
    tasks: deps.tasks,
    accessKeys: config.accessKeys,
    nonces: deps.nonces,
    access,
    limits: { maxOutputDimension: config.limits.maxOutputDimension, maxFramesPerTask: config.tasks.maxFramesPerTask },
  });
  app.use('/', async (c, next) => (isImmRequest(c.req.method, new URL(c.req.url), c.req.raw.headers) ? imm(c) : next()));
  app.route(
    '/',
    createObjectRoutes({
      store: deps.store,
      capture: deps.capture,
      domain: config.domain,
      maxOutputDimension: config.limits.maxOutputDimension,
      snapshotCacheControl: config.http.snapshotCacheControl,
      objectCacheControl: config.http.objectCacheControl,
      put: config.put,
      access,
    }),
  );

  app.onError((err, c) => {
    // The client went away: nobody reads this answer; 499 marks it in logs and metrics (as nginx does).
    if (err instanceof AbortedError) return new Response(null, { status: 499 });
    const appError: AppError = toAppError(err);
    if (appError.status >= 500 && appError.status !== 503) log.error('request failed', { requestId: c.get('requestId'), err: appError.cause ?? err });
    else log.debug('client error', { requestId: c.get('requestId'), code: appError.code, message: appError.message });
    // Errors raised before a route ran (the body limit) answer in the protocol of the request.
    if (isImmRequest(c.req.method, new URL(c.req.url), c.req.raw.headers)) return immErrorResponse(c, appError);
    const headers = ossErrorHeaders(appError);
    const body = c.req.method === 'HEAD' ? null : ossErrorBody(appError, c.get('requestId'), c.req.header('host') ?? '');
    return new Response(body, { status: appError.status, headers });
  });

  return app;
}
