// The in-process nonce store (src/http/nonce-store.ts), used without Redis: a nonce is refused for as long
// as its signed time is valid, then forgotten; when full it refuses new nonces rather than forget valid ones. The Redis store is tested
// against a real redis-server in test/fleet/replay.test.ts.
import { describe, expect, it } from 'vitest';
import { createMemoryNonceStore } from '../../../src/http/nonce-store.js';

const WINDOW_MS = 15 * 60_000;

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
});
