// Where signed RPC requests' nonces are remembered, so a captured request is accepted once. The embedded
// mode keeps them in process; with STILLFRAME_REDIS_URL every node shares one set in Redis (SET NX PX), so
// a request replayed to another node of the fleet is refused too. A nonce is kept until the request's
// signed timestamp leaves the skew window — after that the timestamp check refuses it anyway.
import { Redis } from 'ioredis';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';

export interface NonceStore {
  /**
   * Records `key` until `expiresAt` (ms since the epoch). Resolves false when it is already recorded (a
   * replay); rejects with a 503 when the store cannot answer — the request is then refused, never let through.
   */
  claim(key: string, expiresAt: number, now: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One process's nonces: a Map in arrival order, expired ones swept from the front. At most `maxEntries`
 * are kept, and a nonce still valid is never forgotten to make room — that would let its request be
 * replayed: when every entry is still valid, new signed requests are refused (503) until some expire.
 */
export function createMemoryNonceStore(maxEntries = 200_000): NonceStore {
  const seen = new Map<string, number>();
  const sweep = (now: number, all: boolean) => {
    for (const [k, until] of seen) {
      if (until > now) {
        if (!all) break;
        continue;
      }
      seen.delete(k);
    }
  };
  return {
    async claim(key, expiresAt, now) {
      sweep(now, false);
      const until = seen.get(key);
      if (until !== undefined && until > now) return false;
      // Expiry follows the signed timestamp, not arrival: expired entries may sit behind valid ones.
      if (until === undefined && seen.size >= maxEntries) sweep(now, true);
      if (until === undefined && seen.size >= maxEntries) throw errors.replayCheckUnavailable(new Error(`${maxEntries} nonces still valid`));
      seen.delete(key);
      seen.set(key, expiresAt);
      return true;
    },
    async close() {},
  };
}

/** Nonces shared by every node: `<prefix>:nonce:<AccessKeyId>:<nonce>`, set only if absent, expiring with the window. */
export function createRedisNonceStore(options: { url: string; prefix: string; log: Logger }): NonceStore {
  // Its own connection, opened on first use; few retries, so a Redis outage refuses requests quickly.
  const redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', (err: Error) => options.log.warn('redis error (nonce store)', { err: err.message }));
  return {
    async claim(key, expiresAt, now) {
      let answer: string | null;
      try {
        answer = await redis.set(`${options.prefix}:nonce:${key}`, '1', 'PX', Math.max(1, Math.ceil(expiresAt - now)), 'NX');
      } catch (err) {
        throw errors.replayCheckUnavailable(err);
      }
      return answer === 'OK';
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
