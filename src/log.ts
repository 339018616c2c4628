// Structured logs over pino: one JSON object per line (`level`, `time`, bindings, fields, `msg`), the
// shape log collectors expect. Call sites keep one shape, `log.info(msg, fields?)`; `child(bindings)`
// adds fields to every line (the request id and IMM Action of a request, a task id).
// - Secrets never reach the output: pino `redact` censors SECRET_KEYS in fields and bindings (top level
//   and under SECRET_PARENTS), and URLs logged under `url` lose their signature parameters.
// - Errors under `err` (and `cause`, `errors`) keep their type, message, stack, AppError fields and the
//   whole cause chain.
// - Writing is asynchronous for the caller: lines queue in memory and leave in batches (within 10 ms,
//   or every 64 KB: a cached hit costs no system call of its own), yet nothing is lost at exit — the
//   queue is written synchronously on process exit (process.exit(), the end of the SIGTERM drain, a crash).
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose every line also carries `bindings`. */
  child(bindings: LogFields): Logger;
}

/** The process's logger: also writes out whatever is still queued, synchronously. */
export interface RootLogger extends Logger {
  flush(): void;
}

// Key names whose values are secrets. They are censored at the top level of a line (fields and child
// bindings) and under the objects in SECRET_PARENTS (`headers.authorization`, `query.Signature`,
// `s3.credentials.secretAccessKey`, …). Paths are explicit on purpose: pino's wildcard paths (`*.token`)
// cost ~50 µs per line here, explicit ones nothing measurable.
export const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'signature',
  'Signature',
  'x-oss-signature',
  'x-acs-signature',
  'accessKeySecret',
  'AccessKeySecret',
  'secretAccessKey',
  'SecretAccessKey',
  'accessKeys',
  'secret',
  'webhookSecret',
  'password',
  'token',
  'opsToken',
  'sessionToken',
  'SessionToken',
  'securityToken',
  'SecurityToken',
  'security-token',
  'x-oss-security-token',
  'x-amz-security-token',
] as const;

export const SECRET_PARENTS = [
  'headers',
  'query',
  'params',
  'body',
  'form',
  'signed',
  'credentials',
  'config',
  'options',
  'env',
  'req.headers',
  'request.headers',
  'res.headers',
  'response.headers',
  's3',
  's3.credentials',
  'config.s3.credentials',
  'config.webhooks',
  'err.headers',
] as const;

const pathKey = (key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `["${key}"]`);
export const REDACTED_PATHS = ['', ...SECRET_PARENTS].flatMap((parent) =>
  SECRET_KEYS.map((key) => {
    const k = pathKey(key);
    return parent ? parent + k : k.startsWith('.') ? k.slice(1) : k;
  }),
);
export const CENSOR = '[REDACTED]';

// Query parameters that carry a signature or a credential's secret part; the AccessKeyId alone is not
// secret and stays (it says who signed).
const SECRET_QUERY = /^(signature|x-oss-signature|x-oss-security-token|security-token|x-amz-signature|x-amz-security-token|x-amz-credential|accesskeysecret|token)$/i;

/** `https://h/b/k?Signature=…&x-oss-process=…` → the same with secret parameters censored. */
export function scrubUrl(value: unknown): unknown {
  if (typeof value !== 'string' || !value.includes('?')) return value;
  const q = value.indexOf('?');
  const params = value
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      let name = eq < 0 ? pair : pair.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // Left as sent.
      }
      return SECRET_QUERY.test(name) ? `${pair.slice(0, eq < 0 ? pair.length : eq)}=${CENSOR}` : pair;
    });
  return `${value.slice(0, q)}?${params.join('&')}`;
}

const MAX_CAUSES = 8;

/** An Error as data: type, message, stack, its own fields (AppError's status, code, ec…) and its causes. */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const out: Record<string, unknown> = { type: value.constructor?.name || value.name, message: value.message, stack: value.stack };
  if (value.name !== out.type) out.name = value.name;
  for (const key of Object.keys(value)) {
    if (key in out || key === 'cause') continue;
    const v = (value as unknown as Record<string, unknown>)[key];
    if (typeof v === 'function' || v === undefined) continue;
    // AWS SDK errors hold the whole HTTP response: its status is already in $metadata.
    if (key === '$response') continue;
    out[key] = v instanceof Error ? (depth < MAX_CAUSES ? serializeError(v, depth + 1) : String(v)) : v;
  }
  if (value instanceof AggregateError) out.errors = value.errors.map((e) => (depth < MAX_CAUSES ? serializeError(e, depth + 1) : String(e)));
  if (value.cause !== undefined) out.cause = depth < MAX_CAUSES ? serializeError(value.cause, depth + 1) : String(value.cause);
  return out;
}

// ---------------------------------------------------------------------------------------- the sink

export interface LineSink extends DestinationStream {
  write(chunk: string): void;
  /** Writes out everything queued; blocks until the file descriptor took it. */
  flushSync(): void;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Lines for a file descriptor, queued and written together with writeSync: within `flushMs` of the
 * first queued line, or at once past `batchBytes` — under load one system call carries a few hundred
 * lines instead of one per request.
 * Back-pressure: when the reader is slow (EAGAIN on a non-blocking pipe), the rest is retried shortly
 * while new lines queue behind it; once `maxQueuedBytes` are waiting, write() blocks until the
 * descriptor takes them — memory stays bounded and no line is dropped. A reader that is gone (EPIPE)
 * ends logging quietly, as pino does.
 */
export function createFdSink(fd: number, options: { maxQueuedBytes?: number; batchBytes?: number; flushMs?: number } = {}): LineSink {
  const maxQueued = options.maxQueuedBytes ?? 8 * 1024 * 1024;
  const batchBytes = options.batchBytes ?? 64 * 1024;
  const flushMs = options.flushMs ?? 10;
  let queue: string[] = [];
  let queuedChars = 0;
  let rest: Buffer | undefined; // bytes a write left over (partial write or EAGAIN)
  let scheduled: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let broken = false;

  function writeOut(block: boolean) {
    if (broken) {
      queue = [];
      queuedChars = 0;
      rest = undefined;
      return;
    }
    let buf = rest;
    rest = undefined;
    if (queue.length) {
      const text = queue.length === 1 ? queue[0]! : queue.join('');
      queue = [];
      queuedChars = 0;
      if (!buf) {
        // The usual case, the whole text in one write, without copying it into a Buffer first.
        try {
          const written = writeSync(fd, text);
          if (written === Buffer.byteLength(text)) return;
          buf = Buffer.from(text).subarray(written);
        } catch (err) {
          buf = Buffer.from(text);
          if (!retryable(err)) return stop();
        }
      } else {
        buf = Buffer.concat([buf, Buffer.from(text)]);
      }
    }
    if (!buf) return;
    let offset = 0;
    while (offset < buf.length) {
      try {
        offset += writeSync(fd, buf, offset);
      } catch (err) {
        if (retryable(err)) {
          if (!block) {
            rest = buf.subarray(offset);
            if (retry === undefined) {
              retry = setTimeout(() => {
                retry = undefined;
                writeOut(false);
              }, 2).unref();
            }
            return;
          }
          Atomics.wait(sleeper, 0, 0, 1);
          continue;
        }
        return stop();
      }
    }
  }

  const retryable = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAGAIN' || code === 'EWOULDBLOCK';
  };
  // EPIPE and friends: nobody reads the output any more.
  const stop = () => {
    broken = true;
  };

  const drain = () => {
    clearTimeout(scheduled);
    scheduled = undefined;
    writeOut(false);
  };

  return {
    write(chunk: string) {
      if (broken) return;
      queue.push(chunk);
      queuedChars += chunk.length;
      if (queuedChars + (rest?.length ?? 0) >= maxQueued) {
        writeOut(true);
      } else if (queuedChars >= batchBytes) {
        drain();
      } else {
        // Unref'd: a queue never keeps the process alive; the exit hook writes what is left.
        scheduled ??= setTimeout(drain, flushMs).unref();
      }
    },
    flushSync() {
      writeOut(true);
    },
  };
}

let stdoutSink: LineSink | undefined;

/** The one sink for stdout, written out on exit however the process ends (short of SIGKILL). */
export function stdoutLineSink(): LineSink {
  if (!stdoutSink) {
    const sink = createFdSink(1);
    process.on('exit', () => sink.flushSync());
    stdoutSink = sink;
  }
  return stdoutSink;
}

// -------------------------------------------------------------------------------------- the logger

type Pino = PinoLogger<never>;

/**
 * Bindings are merged into each line's fields rather than made a pino child: a request's logger is
 * created per request and usually writes one line, and a pino child costs more than that line.
 * Fields win over bindings of the same name; serializers and redaction apply to both alike.
 */
class PinoBacked implements Logger {
  constructor(
    protected readonly p: Pino,
    private readonly bindings?: LogFields,
  ) {}
  private at(level: Level, msg: string, fields: LogFields | undefined) {
    if (!this.p.isLevelEnabled(level)) return;
    const all = this.bindings ? (fields ? { ...this.bindings, ...fields } : this.bindings) : fields;
    if (all) this.p[level](all, msg);
    else this.p[level](msg);
  }
  debug(msg: string, fields?: LogFields) {
    this.at('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields) {
    this.at('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields) {
    this.at('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields) {
    this.at('error', msg, fields);
  }
  child(bindings: LogFields): Logger {
    return new PinoBacked(this.p, this.bindings ? { ...this.bindings, ...bindings } : bindings);
  }
}

// ISO time as before, built once per millisecond: toISOString() costs ~2 us here, as much as the rest
// of an access-log line.
let isoMs = 0;
let isoText = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoText;
}

/**
 * The JSON-lines logger. `destination` defaults to stdout through stdoutLineSink(); tests pass their
 * own ({ write(line) {} } collects lines).
 */
export function createLogger(level: Level, destination: { write(chunk: string): void } = stdoutLineSink()): RootLogger {
  const p = pino(
    {
      level,
      base: undefined,
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError, cause: serializeError, url: scrubUrl },
      redact: { paths: REDACTED_PATHS, censor: CENSOR },
    },
    destination,
  );
  const root = new PinoBacked(p) as PinoBacked & RootLogger;
  root.flush = () => (destination as Partial<LineSink>).flushSync?.();
  return root;
}

const silent = (): void => undefined;
export const silentLogger: Logger = { debug: silent, info: silent, warn: silent, error: silent, child: () => silentLogger };
