// The webhook notifier against a real local HTTP receiver: how many attempts each answer gets (no retry
// on a 4xx but 408 and 429; 5xx, 408, 429 and network errors retried), Retry-After on 429/503 honoured
// within the bound, redirects never followed, and retry delays jittered within their bounds
// (equal jitter: retry k waits between d/2 and d, d = min(backoff × 2^(k−1), maxDelay)).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createNotifier, immMessage, type NotifierOptions } from '../../src/tasks/notifier.js';
import { freePort } from '../support/processes.js';
import type { Json } from '../support/json.js';

interface Answer {
  status: number;
  headers?: Record<string, string>;
}

let receiver: Server;
let base: string;
/** Per path: the answers to give in turn (the last one repeats), and when each request arrived. */
const script = new Map<string, Answer[]>();
const arrivals = new Map<string, number[]>();

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '';
      arrivals.set(path, [...(arrivals.get(path) ?? []), performance.now()]);
      const answers = script.get(path) ?? [{ status: 200 }];
      const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
      res.writeHead(answer.status, answer.headers);
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => receiver?.close(resolve)));

let serial = 0;
/** Delivers one message to a fresh path answered by `answers`; returns the outcome, the arrival gaps and the log. */
async function deliver(answers: Answer[], options: Partial<NotifierOptions> = {}, url?: string) {
  const path = `/hook-${++serial}`;
  script.set(path, [...answers]);
  const lines: Json[] = [];
  const notifier = createNotifier({
    topics: { t: url ?? `${base}${path}` },
    secret: undefined,
    retries: 3,
    backoffMs: 40,
    timeoutMs: 2000,
    log: createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Json) }),
    ...options,
  });
  const delivered = await notifier.deliver('t', immMessage('MediaConvert', 'subject', {}));
  const at = arrivals.get(path) ?? [];
  return { delivered, attempts: at.length, gaps: at.slice(1).map((t, i) => t - at[i]!), lines };
}

describe('webhook retries', () => {
  it('a 4xx other than 408 and 429 is final: one attempt', async () => {
    for (const status of [400, 401, 403, 404, 405, 409, 410, 413, 422]) {
      const result = await deliver([{ status }]);
      expect([status, result.delivered, result.attempts]).toEqual([status, false, 1]);
      expect(result.lines.find((l) => l.msg === 'notification refused: not retried')).toMatchObject({ status, attempt: 1 });
    }
  });

  it('5xx, 408 and 429 are retried: retries + 1 attempts, then given up', async () => {
    for (const status of [408, 429, 500, 502, 503, 504]) {
      const result = await deliver([{ status }], { retries: 2, backoffMs: 5 });
      expect([status, result.delivered, result.attempts]).toEqual([status, false, 3]);
      expect(result.lines.at(-1)).toMatchObject({ msg: 'notification given up', attempts: 3 });
    }
    // A success ends the retries at once.
    const recovered = await deliver([{ status: 503 }, { status: 429 }, { status: 200 }], { retries: 5, backoffMs: 5 });
    expect([recovered.delivered, recovered.attempts]).toEqual([true, 3]);
    // retries = 0: one attempt whatever the answer.
    expect((await deliver([{ status: 500 }], { retries: 0 })).attempts).toBe(1);
  });

  it('a redirect is neither followed nor retried', async () => {
    const target = `/hook-target-${serial}`;
    const result = await deliver([{ status: 307, headers: { location: `${base}${target}` } }]);
    expect([result.delivered, result.attempts]).toEqual([false, 1]);
    expect(arrivals.get(target)).toBeUndefined();
  });

  it('network errors are retried with backoff', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/hook`;
    const result = await deliver([], { retries: 2, backoffMs: 5 }, closed);
    expect(result.delivered).toBe(false);
    expect(result.lines.filter((l) => l.msg === 'notification delivery failed')).toHaveLength(3);
  });

  it('Retry-After on 429 and 503 replaces the backoff, bounded by maxDelayMs; elsewhere it is ignored', async () => {
    const seconds = await deliver([{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }], { backoffMs: 5 });
    expect(seconds.attempts).toBe(2);
    expect(seconds.gaps[0]!).toBeGreaterThanOrEqual(990);
    expect(seconds.gaps[0]!).toBeLessThan(1500);

    const date = await deliver([{ status: 503, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } }, { status: 200 }], { backoffMs: 5 });
    // An HTTP date has whole seconds: between 1 and 2 s from now.
    expect(date.gaps[0]!).toBeGreaterThanOrEqual(900);
    expect(date.gaps[0]!).toBeLessThan(2500);

    const capped = await deliver([{ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 }], { backoffMs: 5, maxDelayMs: 300 });
    expect(capped.gaps[0]!).toBeGreaterThanOrEqual(290);
    expect(capped.gaps[0]!).toBeLessThan(800);

    // On a 500, or unreadable: the backoff (5 ms, jittered) applies, not the header.
    for (const answer of [{ status: 500, headers: { 'retry-after': '2' } }, { status: 503, headers: { 'retry-after': 'soon' } }]) {
      const ignored = await deliver([answer, { status: 200 }], { backoffMs: 5 });
      expect(ignored.gaps[0]!).toBeLessThan(500);
    }
  });

  it('delays between real attempts stay within the jitter bounds, and vary', async () => {
    const BACKOFF = 60;
    const firstGaps: number[] = [];
    for (let run = 0; run < 6; run++) {
      const result = await deliver([{ status: 503 }], { retries: 3, backoffMs: BACKOFF });
      expect(result.attempts).toBe(4);
      result.gaps.forEach((gap, i) => {
        const ceiling = BACKOFF * 2 ** i;
        // Timers fire no earlier than asked (less a millisecond of clock granularity); above, a loaded
        // machine may add any delay, so the bound only catches a backoff that grew too fast.
        expect(gap, `run ${run}, retry ${i + 1}`).toBeGreaterThanOrEqual(ceiling / 2 - 2);
        expect(gap, `run ${run}, retry ${i + 1}`).toBeLessThan(ceiling * 2 + 1500);
      });
      firstGaps.push(result.gaps[0]!);
    }
    // Six draws from [30, 60] ms: not all the same (lock-step retries are what jitter prevents).
    expect(Math.max(...firstGaps) - Math.min(...firstGaps)).toBeGreaterThan(3);
  });
});
