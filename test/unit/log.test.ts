// The logger: one JSON object per line, levels, child bindings, errors with their causes, redaction of
// secrets, and no line lost however the process ends.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError, errors } from '../../src/errors.js';
import { CENSOR, createLogger, REDACTED_PATHS, SECRET_KEYS, SECRET_PARENTS, scrubUrl, type Level } from '../../src/log.js';
import { logLines, startServe, stopAll, tempDir } from '../support/processes.js';

afterEach(stopAll);

function capture(level: Level = 'debug') {
  const chunks: string[] = [];
  const log = createLogger(level, { write: (chunk) => void chunks.push(chunk) });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  return { log, text, lines };
}

describe('log lines', () => {
  it('are one JSON object per line: level name, ISO time, fields, msg', () => {
    const { log, text, lines } = capture('debug');
    log.info('hello', { requestId: 'R1', status: 200, nested: { a: [1, 2] }, skipped: undefined });
    log.warn('careful');
    expect(text().endsWith('\n')).toBe(true);
    const [first, second] = lines();
    expect(first).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), requestId: 'R1', status: 200, nested: { a: [1, 2] }, msg: 'hello' });
    expect(second).toMatchObject({ level: 'warn', msg: 'careful' });
    expect(Object.keys(second!)).toEqual(['level', 'time', 'msg']);
  });

  it('STILLFRAME_LOG_LEVEL: lines below the level are not written', () => {
    for (const [level, expected] of [
      ['debug', ['debug', 'info', 'warn', 'error']],
      ['info', ['info', 'warn', 'error']],
      ['warn', ['warn', 'error']],
      ['error', ['error']],
    ] as const) {
      const { log, lines } = capture(level);
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      expect(lines().map((l) => l.level)).toEqual(expected);
    }
  });

  it('child() bindings are on every line of the child and its children, not on the parent', () => {
    const { log, lines } = capture();
    const request = log.child({ requestId: 'ABC' });
    request.child({ action: 'GetTask' }).info('inner', { status: 400 });
    request.info('outer');
    log.info('root');
    expect(lines()).toMatchObject([
      { requestId: 'ABC', action: 'GetTask', status: 400, msg: 'inner' },
      { requestId: 'ABC', msg: 'outer' },
      { msg: 'root' },
    ]);
    expect(lines()[1]).not.toHaveProperty('action');
    expect(lines()[2]).not.toHaveProperty('requestId');
  });

  it('errors keep their type, message, stack, AppError fields and the whole cause chain', () => {
    const { log, lines } = capture();
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', errno: -111 });
    const middle = new TypeError('fetch failed', { cause: root });
    log.error('request failed', { err: errors.originFailed('The origin failed while sending demo/a.mp4.', middle) });
    log.error('many', { err: new AggregateError([new Error('one'), errors.noSuchKey('k')], 'two failures') });
    log.info('not an error', { err: 'plain text' });
    const [first, second, third] = lines();
    expect(first!.err).toMatchObject({
      type: 'AppError',
      message: 'The origin failed while sending demo/a.mp4.',
      status: 502,
      code: 'BadGateway',
      stack: expect.stringContaining('AppError: The origin failed'),
      cause: {
        type: 'TypeError',
        message: 'fetch failed',
        stack: expect.stringContaining('TypeError: fetch failed'),
        cause: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9', code: 'ECONNREFUSED', errno: -111 },
      },
    });
    expect(second!.err).toMatchObject({ type: 'AggregateError', errors: [{ message: 'one' }, { type: 'AppError', code: 'NoSuchKey', status: 404 }] });
    expect(third!.err).toBe('plain text');
  });

  it('a cause chain that loops ends instead of recursing forever', () => {
    const { log, lines } = capture();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    log.error('loop', { err: a });
    let depth = 0;
    for (let e = lines()[0]!.err; e && typeof e === 'object'; e = e.cause) depth++;
    expect(depth).toBeLessThan(12);
  });
});

describe('secrets', () => {
  const SECRET = 'S3cr3t-value-that-must-not-leak';

  it('every redacted path: as a field, nested under its parent, and in child bindings', () => {
    const { log, text } = capture();
    for (const key of SECRET_KEYS) {
      log.info('top', { [key]: SECRET });
      log.child({ [key]: SECRET }).info('binding');
      for (const parent of SECRET_PARENTS) {
        const fields: Record<string, unknown> = {};
        let at = fields;
        const names = parent.split('.');
        for (const name of names.slice(0, -1)) at = (at[name] = {}) as Record<string, unknown>;
        at[names.at(-1)!] = { [key]: SECRET, kept: 'visible' };
        log.info('nested', fields);
      }
    }
    expect(text()).not.toContain(SECRET);
    expect(text()).toContain(CENSOR);
    expect(text()).toContain('visible');
    expect(REDACTED_PATHS.length).toBe(SECRET_KEYS.length * (SECRET_PARENTS.length + 1));
  });

  it('what servers and SDKs actually hand to a logger', () => {
    const { log, text } = capture();
    log.info('incoming', {
      headers: { authorization: `OSS4-HMAC-SHA256 Credential=LTAIid/20261203/cn/oss/aliyun_v4_request,Signature=${SECRET}`, host: 'h' },
      query: { Signature: SECRET, OSSAccessKeyId: 'LTAIid', 'x-oss-signature': SECRET, 'security-token': SECRET },
      signed: { AccessKeyId: 'LTAIid', Signature: SECRET, AccessKeySecret: SECRET },
    });
    log.info('config', { s3: { credentials: { accessKeyId: 'AKIA', secretAccessKey: SECRET, sessionToken: SECRET } }, opsToken: SECRET, accessKeys: { LTAIid: SECRET } });
    log.child({ webhookSecret: SECRET, password: SECRET }).warn('delivery', { token: SECRET, cookie: SECRET });
    log.info('url', { url: `https://b.oss.example.com/k.mp4?OSSAccessKeyId=LTAIid&Expires=1&Signature=${encodeURIComponent(SECRET)}&x-oss-process=video/snapshot,t_0` });
    log.info('url v4', { url: `https://h/b/k?x-oss-credential=LTAIid%2F20261203&x-oss-signature=${SECRET}&x-oss-security-token=${SECRET}` });
    expect(text()).not.toContain(SECRET);
    // What identifies without granting stays readable.
    expect(text()).toContain('LTAIid');
    expect(text()).toContain('x-oss-process=video/snapshot,t_0');
  });

  it('scrubUrl leaves URLs without secrets alone', () => {
    expect(scrubUrl('/demo/a.mp4?x-oss-process=video/snapshot,t_0')).toBe('/demo/a.mp4?x-oss-process=video/snapshot,t_0');
    expect(scrubUrl('https://h/p')).toBe('https://h/p');
    expect(scrubUrl(42)).toBe(42);
    expect(scrubUrl('https://h/p?Signature=abc&a=1&Signature')).toBe(`https://h/p?Signature=${CENSOR}&a=1&Signature=${CENSOR}`);
  });
});

describe('no line lost at exit', () => {
  const CHILD = resolve(import.meta.dirname, '../support/log-child.ts');

  /** Runs the child; the reader stalls for `stallMs` first so the pipe fills and writes back up. */
  function runChild(args: string[], options: { stallMs?: number; signalAfterReady?: boolean } = {}) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: resolve(import.meta.dirname, '../..') });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (options.signalAfterReady && out.includes('"msg":"ready"')) {
        options.signalAfterReady = false;
        child.kill('SIGTERM');
      }
    });
    if (options.stallMs) {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), options.stallMs);
    }
    return new Promise<{ code: number | null; lines: Record<string, any>[]; stderr: string }>((done) =>
      child.on('close', (code) => done({ code, stderr: err, lines: out.split('\n').filter(Boolean).map(parseLine) })),
    );
  }

  /** A torn or garbled line shows up in the comparison instead of throwing in an event handler. */
  const parseLine = (line: string): Record<string, any> => {
    try {
      return JSON.parse(line) as Record<string, any>;
    } catch {
      return { msg: 'line', i: `unparsable: ${line.slice(0, 80)}` };
    }
  };
  const numbered = (lines: Record<string, any>[]) => lines.filter((l) => l.msg === 'line').map((l) => l.i as number);
  const N = 20_000; // ~5.6 MB: far more than a pipe holds

  it.each([
    ['process.exit() right after logging', 'exit', 0],
    ['the event loop running empty', 'return', 0],
    ['an uncaught exception', 'throw', 1],
  ] as const)('%s, behind a stalled reader', async (_, mode, exitCode) => {
    const { code, lines, stderr } = await runChild([String(N), mode], { stallMs: 300 });
    expect(code, stderr).toBe(exitCode);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 60_000);

  it('process.exit() with a non-blocking stdout pipe (EAGAIN), behind a stalled reader', async () => {
    const { code, lines, stderr } = await runChild([String(N), 'exit', 'nonblocking'], { stallMs: 300 });
    expect(code, stderr).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 60_000);

  it('the SIGTERM path: lines logged by the signal handler, then process.exit(0)', async () => {
    const { code, lines, stderr } = await runChild([String(N), 'sigterm'], { signalAfterReady: true });
    expect(code, stderr).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  }, 60_000);

  it('stillframe serve: every request has its access line when SIGTERM ends the process', async () => {
    const root = await tempDir('log');
    const node = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'info' });
    const K = 300;
    const ids: string[] = [];
    for (let i = 0; i < K; i += 30) {
      const batch = await Promise.all(Array.from({ length: 30 }, (_, j) => fetch(`${node.url}/nobucket/${i + j}.mp4?x-oss-process=video/snapshot,t_0`)));
      for (const res of batch) {
        expect(res.status).toBe(404);
        ids.push(res.headers.get('x-oss-request-id')!);
        await res.arrayBuffer();
      }
    }
    await node.stop();
    expect(node.child.exitCode).toBe(0);
    const access = logLines(node.output(), 'request');
    expect(access.map((l) => l.requestId).sort()).toEqual(ids.sort());
    expect(access.every((l) => l.status === 404 && l.process === 'video/snapshot,t_0')).toBe(true);
    expect(logLines(node.output(), 'stopped')).toHaveLength(1);
    // stdout is JSON lines only (no TTY): the banner went to stderr.
    const stdout = node.output().split('\n').filter((l) => l.startsWith('{'));
    expect(stdout.length).toBeGreaterThan(K);
  }, 60_000);
});

it('AppError without a cause still serializes its fields', () => {
  const { log, lines } = capture();
  log.error('x', { err: new AppError(503, 'ServiceUnavailable', 'busy', { retryAfter: 2 }) });
  expect(lines()[0]!.err).toMatchObject({ type: 'AppError', status: 503, code: 'ServiceUnavailable', retryAfter: 2, message: 'busy' });
  expect(lines()[0]!.err).not.toHaveProperty('cause');
});
