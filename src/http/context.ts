// Typed per-request context shared by middleware and routes.
import type { Logger } from '../log.js';

export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    /** Set by the snapshot route, read by the access log and metrics. */
    cacheHit: boolean | undefined;
  };
}
