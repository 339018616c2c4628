// The server's own endpoints under the reserved prefix `/_/`: health for load balancers and
// orchestrators, metrics for Prometheus.
import { Hono } from 'hono';
import { equalSecret } from '../core/equal-secret.js';
import type { Metrics } from '../core/metrics.js';
import type { AppEnv } from './context.js';

export interface OpsDeps {
  metrics: Metrics;
  /** node, FFmpeg, sharp and libvips versions the capture workers run. */
  engine: { versions: Record<string, string>; size: number; readonly busy: number };
  storage: string;
  version: string;
  isDraining: () => boolean;
  limiter: { active: number; queued: number };
  /** Bearer token for metrics and health details (paths, versions, load); undefined = open. */
  token: string | undefined;
}

export function createOpsRoutes(deps: OpsDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const started = Date.now();
  // Metrics and health details tell an attacker which versions run and how loaded the server is.
  const authorized = (header: string | undefined) => {
    if (deps.token === undefined) return true;
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    return !!m && equalSecret(deps.token, m[1]!);
  };

  app.get('/health', (c) => {
    const draining = deps.isDraining();
    // Load balancers need only the status code: without the token, the body says no more.
    if (!authorized(c.req.header('authorization'))) return c.json({ status: draining ? 'draining' : 'ok' }, draining ? 503 : 200);
    return c.json(
      {
        status: draining ? 'draining' : 'ok',
        version: deps.version,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        storage: deps.storage,
        engine: { ...deps.engine.versions, workers: deps.engine.size, busy: deps.engine.busy },
        captures: { active: deps.limiter.active, queued: deps.limiter.queued },
      },
      draining ? 503 : 200,
    );
  });

  app.get('/metrics', async (c) => {
    if (!authorized(c.req.header('authorization'))) {
      return c.text('Unauthorized: /_/metrics needs Authorization: Bearer <STILLFRAME_OPS_TOKEN>.\n', 401, { 'WWW-Authenticate': 'Bearer realm="stillframe"' });
    }
    return c.text(await deps.metrics.render(), 200, { 'Content-Type': deps.metrics.contentType });
  });

  return app;
}
