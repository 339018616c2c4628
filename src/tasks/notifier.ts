// Completion notifications. IMM publishes to an MNS/RocketMQ topic; stillframe maps topic names to
// webhook URLs in its configuration (only those URLs are ever called: a request cannot make the server
// POST anywhere, and redirects are not followed) and POSTs the IMM message envelope, signed with
// HMAC-SHA256. A delivery that keeps failing is logged and dropped: never fatal to the task.
// Retries: network errors, timeouts, 5xx, 408 and 429 are retried; any other answer (2xx aside) is final —
// a 4xx will not change by asking again. Delays grow exponentially with "equal jitter": retry k waits
// d/2 + random(0, d/2) where d = min(backoffMs × 2^(k−1), maxDelayMs), so a fleet of nodes whose
// deliveries failed together does not retry in lock-step, yet each waits at least half the backoff. A 429
// or 503 with Retry-After (seconds or an HTTP date) waits that long instead, bounded by maxDelayMs.
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';

export const SIGNATURE_HEADER = 'X-Stillframe-Signature';

export interface NotifierOptions {
  topics: Record<string, string>;
  secret: string | undefined;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  /** Longest wait before a retry, for the backoff and for Retry-After alike (default 5 minutes). */
  maxDelayMs?: number;
  /** [0, 1) — the jitter's source (tests make it deterministic). */
  random?: () => number;
  log: Logger;
}

const DEFAULT_MAX_DELAY_MS = 5 * 60_000;

/** Retried: the receiver may answer otherwise later. Any other non-2xx answer is final. */
export const isRetryableStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/** Retry-After in ms (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its weekday or month; anything else ("-1", "1.5") is not a Retry-After.
  const at = /[A-Za-z]{3}/.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Equal jitter: half the capped exponential delay, plus a random share of the other half. */
export function backoffDelay(retry: number, backoffMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, backoffMs * 2 ** Math.min(retry - 1, 52));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export interface ImmMessage {
  id: string;
  source: 'acs.imm';
  type: string;
  subject: string;
  time: string;
  content: string;
}

export interface Notifier {
  /** Resolves when delivered (true) or given up on / nothing configured (false). Never rejects. */
  deliver(topic: string, message: ImmMessage, signal?: AbortSignal): Promise<boolean>;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function immMessage(taskType: string, subject: string, content: Record<string, unknown>, at = new Date()): ImmMessage {
  return {
    id: randomUUID(),
    source: 'acs.imm',
    type: `imm:Task:${taskType}`,
    subject,
    time: String(at.getTime()),
    content: JSON.stringify(content),
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

export function createNotifier(options: NotifierOptions): Notifier {
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const random = options.random ?? Math.random;
  return {
    async deliver(topic, message, signal) {
      const url = options.topics[topic];
      if (!url) {
        options.log.info('notification not sent: no webhook configured for the topic (STILLFRAME_WEBHOOKS)', { topic });
        return false;
      }
      const body = JSON.stringify(message);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'stillframe-webhook',
        'X-Stillframe-Topic': topic,
        'X-Stillframe-Message-Id': message.id,
      };
      if (options.secret) headers[SIGNATURE_HEADER] = signBody(options.secret, body);
      const log = { topic, messageId: message.id };
      let delay = 0;
      for (let attempt = 1; attempt <= options.retries + 1; attempt++) {
        if (signal?.aborted) return false;
        if (attempt > 1) await sleep(delay, signal);
        if (signal?.aborted) return false;
        let retryAfter: number | undefined;
        try {
          // Redirects are answers, not directions: following one would POST somewhere not configured.
          const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
          await res.body?.cancel();
          if (res.ok) {
            options.log.info('notification delivered', { ...log, attempt, status: res.status });
            return true;
          }
          if (!isRetryableStatus(res.status)) {
            options.log.error('notification refused: not retried', { ...log, attempt, status: res.status });
            return false;
          }
          if (res.status === 429 || res.status === 503) retryAfter = retryAfterMs(res.headers.get('retry-after'));
          delay = retryAfter !== undefined ? Math.min(retryAfter, maxDelayMs) : backoffDelay(attempt, options.backoffMs, maxDelayMs, random);
          options.log.warn('notification delivery failed', { ...log, attempt, status: res.status, retryInMs: attempt <= options.retries ? delay : undefined });
        } catch (err) {
          delay = backoffDelay(attempt, options.backoffMs, maxDelayMs, random);
          options.log.warn('notification delivery failed', { ...log, attempt, error: (err as Error).message, retryInMs: attempt <= options.retries ? delay : undefined });
        }
      }
      options.log.error('notification given up', { ...log, attempts: options.retries + 1 });
      return false;
    },
  };
}
