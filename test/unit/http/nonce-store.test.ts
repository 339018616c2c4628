// The in-process nonce store (src/http/nonce-store.ts), used without Redis: a nonce is refused for as long
// as its signed time is valid, then forgotten, and the store's size is bounded. The Redis store is tested
// against a real redis-server in test/fleet/replay.test.ts.
import { describe, expect, it } from 'vitest';
import { createMemoryNonceStore } from '../../../src/http/nonce-store.js';

const WINDOW_MS = 15 * 60_000;

describe('nonce stores', () => {
  it('in process: a nonce is refused until the signed time leaves the window, then forgotten; the size is bounded', async () => {
    const store = createMemoryNonceStore(3);
    const now = Date.now();
    // A timestamp 10 min ahead is valid for 25 min: its nonce is kept that long, not 15 min from arrival.
    expect(await store.claim('k:a', now + 10 * 60_000 + WINDOW_MS, now)).toBe(true);
    expect(await store.claim('k:a', now + WINDOW_MS, now + 20 * 60_000)).toBe(false);
    expect(await store.claim('k:a', now + WINDOW_MS, now + 26 * 60_000)).toBe(true);
    expect(await store.claim('other:a', now + WINDOW_MS, now)).toBe(true);
    for (const n of ['b', 'c', 'd', 'e']) expect(await store.claim(`k:${n}`, now + WINDOW_MS, now)).toBe(true);
    expect(await store.claim('k:e', now + WINDOW_MS, now)).toBe(false);
  });
});
