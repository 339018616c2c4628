// Request bodies are bounded before anything reads them. Every body except an object PUT (which streams
// to the store under STILLFRAME_MAX_PUT_BYTES) goes through hono's bodyLimit: a Content-Length over the
// limit is refused without reading a byte, and a body without one (chunked) is counted as it streams in
// and refused at the first byte over — so no handler ever parses, hashes or signature-checks more than
// the limit, and a 413 costs no signature work. The 413 closes the connection: the rest is never read.
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errors } from '../errors.js';
import type { AppEnv } from './context.js';

export function limitRequestBodies(maxBytes: number): MiddlewareHandler<AppEnv> {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw errors.bodyTooLarge(maxBytes);
    },
  });
  // GET and HEAD bodies are never read; looking for one would build the whole Request object that a
  // cached hit otherwise never needs.
  return (c, next) => (c.req.method === 'PUT' || c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limit(c, next));
}
