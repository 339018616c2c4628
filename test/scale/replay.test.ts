// Replay protection across a fleet (STILLFRAME_REDIS_URL): a real redis-server and two real stillframe
// processes with the same access keys. A signed RPC request captured on its way to node A is refused by
// node B (and by A again), v1 or ACS3 signed: the nonce is claimed in Redis (SET NX PX) under the configured prefix, for as
// long as the request's timestamp stays valid. The in-process store used without Redis behaves alike.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { rpcSignature } from '../../src/http/imm-auth.js';
import { createMemoryNonceStore, createRedisNonceStore } from '../../src/http/nonce-store.js';
import { silentLogger } from '../../src/log.js';
import { acs3Request, send } from '../support/alicloud-openapi.js';
import { findBinary, freePort, startServe, stopAll, tempDir } from '../support/processes.js';
import { startRedis } from './harness.js';

afterAll(stopAll);

const KEY_ID = 'fleet-key';
const SECRET = 'fleet-secret-0123456789';
const WINDOW_MS = 15 * 60_000;

/** A v1-signed ListProjects form, as @alicloud/pop-core sends it. */
function signedForm(nonce: string, timestamp = new Date()): URLSearchParams {
  const params: Record<string, string> = {
    Action: 'ListProjects', Version: '2020-09-30', Format: 'JSON', AccessKeyId: KEY_ID, SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0', SignatureNonce: nonce, Timestamp: timestamp.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  params.Signature = rpcSignature(SECRET, 'POST', params);
  return new URLSearchParams(params);
}

async function post(url: string, form: URLSearchParams): Promise<[number, string | undefined]> {
  const res = await fetch(`${url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  const body = (await res.json()) as Record<string, string>;
  return [res.status, body.Code];
}

const redisServer = findBinary('redis-server', '/usr/bin/redis-server');
if (!redisServer) console.warn('SKIPPED: the replay fleet test needs redis-server (apt-get install redis-server; .ci/run installs it)');

describe('nonce stores', () => {
  it('in process: a nonce is refused until the signed time leaves the window, then forgotten', async () => {
    const store = createMemoryNonceStore(3);
    const now = Date.now();
    // A timestamp 10 min ahead is valid for 25 min: its nonce is kept that long, not 15 min from arrival.
    expect(await store.claim('k:a', now + 10 * 60_000 + WINDOW_MS, now)).toBe(true);
    expect(await store.claim('k:a', now + WINDOW_MS, now + 20 * 60_000)).toBe(false);
    expect(await store.claim('k:a', now + WINDOW_MS, now + 26 * 60_000)).toBe(true);
    expect(await store.claim('other:a', now + WINDOW_MS, now)).toBe(true);
  });

  it('in process, full: no nonce still valid is forgotten to make room — new ones are refused (503) until some expire', async () => {
    const store = createMemoryNonceStore(3);
    const now = Date.now();
    // Expiry follows the signed time, not arrival: the first one outlives the others.
    expect(await store.claim('k:long', now + 2 * WINDOW_MS, now)).toBe(true);
    for (const n of ['b', 'c']) expect(await store.claim(`k:${n}`, now + WINDOW_MS, now)).toBe(true);
    await expect(store.claim('k:d', now + WINDOW_MS, now)).rejects.toMatchObject({ status: 503, code: 'ServiceUnavailable' });
    // Still a replay, every one of them.
    for (const n of ['long', 'b', 'c']) expect(await store.claim(`k:${n}`, now + WINDOW_MS, now)).toBe(false);
    // b and c expire (behind the long-lived one): room again, and the long one is still remembered.
    const later = now + WINDOW_MS + 1;
    expect(await store.claim('k:d', later + WINDOW_MS, later)).toBe(true);
    expect(await store.claim('k:long', later + WINDOW_MS, later)).toBe(false);
  });

  it('Redis unreachable: the claim fails closed with 503 ServiceUnavailable', async () => {
    const store = createRedisNonceStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix: 'x', log: silentLogger });
    const err = await store.claim('k:n', Date.now() + WINDOW_MS, Date.now()).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'ServiceUnavailable' });
    await store.close();
  });
});

describe.skipIf(!redisServer)('two nodes, one Redis', () => {
  it('a signed request accepted by node A is refused as a replay by node B, and by A again', async () => {
    const redis = await startRedis();
    const root = await tempDir('replay');
    const shared = { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_REDIS_URL: redis.url, STILLFRAME_REDIS_PREFIX: 'sf-replay', STILLFRAME_ACCESS_KEYS: `${KEY_ID}:${SECRET}` };
    const [a, b] = await Promise.all([startServe(shared), startServe(shared)]);
    const client = new Redis(redis.url);
    try {
      const form = signedForm('captured-nonce-1');
      expect(await post(a.url, form)).toEqual([200, undefined]);
      expect(await post(b.url, form)).toEqual([403, 'SignatureNonceUsed']);
      expect(await post(a.url, form)).toEqual([403, 'SignatureNonceUsed']);
      // Sent to B first, the other way round.
      const second = signedForm('captured-nonce-2');
      expect(await post(b.url, second)).toEqual([200, undefined]);
      expect(await post(a.url, second)).toEqual([403, 'SignatureNonceUsed']);

      // An ACS3-HMAC-SHA256 request (as @alicloud/openapi-client signs it), captured and replayed byte for byte.
      // Its Host header is signed, so the replay goes to node B's socket under node A's name, as through a balancer.
      const acs3 = acs3Request(a.url, KEY_ID, SECRET, { action: 'ListProjects', nonce: 'captured-acs3-nonce' });
      expect((await send(a.url, acs3)).status).toBe(200);
      expect(await send(b.url, acs3)).toMatchObject({ status: 403, body: { Code: 'SignatureNonceUsed' } });

      // The claim: under the prefix, per AccessKeyId, expiring when the timestamp leaves the window.
      expect((await client.keys('sf-replay:nonce:*')).sort()).toEqual([
        `sf-replay:nonce:${KEY_ID}:captured-acs3-nonce`,
        `sf-replay:nonce:${KEY_ID}:captured-nonce-1`,
        `sf-replay:nonce:${KEY_ID}:captured-nonce-2`,
      ]);
      const ttl = await client.pttl(`sf-replay:nonce:${KEY_ID}:captured-nonce-1`);
      expect(ttl).toBeGreaterThan(WINDOW_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
      // A request signed 10 minutes ago is valid 5 more minutes: its nonce lives that long.
      expect(await post(a.url, signedForm('old-nonce', new Date(Date.now() - 10 * 60_000)))).toEqual([200, undefined]);
      const oldTtl = await client.pttl(`sf-replay:nonce:${KEY_ID}:old-nonce`);
      expect(oldTtl).toBeGreaterThan(3 * 60_000);
      expect(oldTtl).toBeLessThanOrEqual(5 * 60_000);

      // Two nodes racing for one nonce: exactly one wins.
      const race = signedForm('raced-nonce');
      const answers = await Promise.all([post(a.url, race), post(b.url, race), post(a.url, race), post(b.url, race)]);
      expect(answers.filter(([status]) => status === 200)).toHaveLength(1);
      expect(answers.filter(([, code]) => code === 'SignatureNonceUsed')).toHaveLength(3);
    } finally {
      client.disconnect();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
