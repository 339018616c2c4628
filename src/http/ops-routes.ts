// The server's own endpoints under the reserved prefix `/_/`: health for load balancers and
// orchestrators, metrics for Prometheus.
import { Hono } from 'hono';
import type { Metrics } from '../core/metrics.js';
import type { Binaries } from '../media/binaries.js';
import type { AppEnv } from './context.js';

export interface OpsDeps {
  metrics: Metrics;
  binaries: Binaries;
  storage: string;
  version: string;
  isDraining: () => boolean;
  limiter: { active: number; queued: number };
}

export function createOpsRoutes(deps: OpsDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const started = Date.now();
  const describe = (b: Binaries['ffmpeg']) => ({
    path: b.path,
    source: b.source,
    version: b.version.join('.'),
    versionLine: b.versionLine,
    outdated: b.version[0] < 5,
  });

  app.get('/health', (c) => {
    const draining = deps.isDraining();
    return c.json(
      {
        status: draining ? 'draining' : 'ok',
        version: deps.version,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        storage: deps.storage,
        ffmpeg: describe(deps.binaries.ffmpeg),
        ffprobe: describe(deps.binaries.ffprobe),
        captures: { active: deps.limiter.active, queued: deps.limiter.queued },
      },
      draining ? 503 : 200,
    );
  });

  app.get('/metrics', (c) => c.text(deps.metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4' }));

  return app;
}
