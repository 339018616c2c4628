// Completion notifications. IMM publishes to an MNS/RocketMQ topic; stillframe maps topic names to
// webhook URLs in its configuration (only those URLs are ever called: a request cannot make the server
// POST anywhere) and POSTs the IMM message envelope, signed with HMAC-SHA256, retrying with
// exponential backoff. A delivery that keeps failing is logged and dropped: never fatal to the task.
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';

export const SIGNATURE_HEADER = 'X-Stillframe-Signature';

export interface NotifierOptions {
  topics: Record<string, string>;
  secret: string | undefined;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  log: Logger;
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
      for (let attempt = 0; attempt <= options.retries; attempt++) {
        if (signal?.aborted) return false;
        if (attempt > 0) await sleep(options.backoffMs * 2 ** (attempt - 1), signal);
        if (signal?.aborted) return false;
        try {
          const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.timeoutMs) });
          await res.body?.cancel();
          if (res.ok) {
            options.log.info('notification delivered', { topic, messageId: message.id, attempt: attempt + 1, status: res.status });
            return true;
          }
          options.log.warn('notification delivery failed', { topic, messageId: message.id, attempt: attempt + 1, status: res.status });
        } catch (err) {
          options.log.warn('notification delivery failed', { topic, messageId: message.id, attempt: attempt + 1, error: (err as Error).message });
        }
      }
      options.log.error('notification given up', { topic, messageId: message.id, attempts: options.retries + 1 });
      return false;
    },
  };
}
