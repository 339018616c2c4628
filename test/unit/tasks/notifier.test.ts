// The webhook notifier's pure parts (src/tasks/notifier.ts): the retry delay (exponential, capped, equal
// jitter) and Retry-After read as seconds or an HTTP date. Deliveries to a real receiver are
// test/tasks/webhook-retries.test.ts and test/tasks/webhook.test.ts.
import { describe, expect, it } from 'vitest';
import { backoffDelay, retryAfterMs } from '../../../src/tasks/notifier.js';

describe('webhook retries', () => {
  it('backoff: exponential, capped, equal jitter between half and all of the delay', () => {
    expect([1, 2, 3, 4].map((k) => backoffDelay(k, 100, 10_000, () => 0))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((k) => backoffDelay(k, 100, 10_000, () => 0.999999))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(20, 100, 10_000, () => 0.5)).toBe(7500);
    expect(backoffDelay(1000, 1000, 300_000, () => 1)).toBe(300_000);
  });

  it('Retry-After: delta-seconds or an HTTP date (never negative); anything else is no value', () => {
    expect(retryAfterMs('120')).toBe(120_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT'))).toBe(60_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 08:00:00 GMT'))).toBe(0);
    expect(retryAfterMs('-1')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
