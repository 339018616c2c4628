// Typed per-request context shared by middleware and routes.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Context } from 'hono';
import type { Logger } from '../log.js';

export interface AppEnv {
  /** Set by @hono/node-server (absent under app.request() in tests). */
  Bindings: { incoming?: IncomingMessage };
  Variables: {
    requestId: string;
    /** The request's logger: its lines carry the request id, and for IMM requests the Action. */
    log: Logger;
    /** The request URL, parsed once by the app middleware. */
    url: URL;
    /** The IMM Action, once the IMM route has read it (query string or form body). */
    action: string | undefined;
    /** Set by the snapshot route, read by the access log and metrics. */
    cacheHit: boolean | undefined;
    /** The route put x-oss-request-id into its own (plain) response headers. */
    requestIdSet: boolean;
  };
}

/**
 * A request header, from Node's parsed headers when @hono/node-server serves the request: the Fetch
 * Headers object hono would build instead costs more than the rest of a cached hit's header work.
 */
export function requestHeader(c: Context<AppEnv>, name: string): string | undefined {
  const incoming = c.env?.incoming;
  if (!incoming) return c.req.header(name);
  const value = incoming.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

class RequestHeaders {
  constructor(private readonly c: Context<AppEnv>) {}
  get(name: string): string | null {
    return requestHeader(this.c, name) ?? null;
  }
}

/** A Headers-like view of the request headers for code that only calls get(). */
export function requestHeaders(c: Context<AppEnv>): { get(name: string): string | null } {
  return new RequestHeaders(c);
}

/** Plain response headers carrying the request id (plain objects keep @hono/node-server on its fast path). */
export function withRequestId<T extends Record<string, string>>(c: Context<AppEnv>, headers: T): T & { 'x-oss-request-id': string } {
  c.set('requestIdSet', true);
  return Object.assign(headers, { 'x-oss-request-id': c.get('requestId') });
}

// One AbortSignal per connection, aborted when the connection closes. Per request it would cost an
// AbortController (~8 us on Node 20, as much as the rest of a cached hit's routing) that only a capture
// (a cache miss) ever listens to. With HTTP/1.1 a client abandons a request by closing its connection,
// so the connection's signal is the request's; listeners are removed when a capture finishes.
const connectionSignals = new WeakMap<Socket, AbortController>();

/** The signal that aborts when the client goes away. */
export function requestSignal(c: Context<AppEnv>): AbortSignal {
  const socket = c.env?.incoming?.socket;
  if (!socket) return c.req.raw.signal;
  let controller = connectionSignals.get(socket);
  if (!controller) {
    const created = new AbortController();
    connectionSignals.set(socket, created);
    if (socket.destroyed) created.abort();
    else socket.once('close', () => created.abort());
    controller = created;
  }
  return controller.signal;
}
