// The logger (src/log.ts): one JSON object per line, levels, child bindings, errors with their causes, and
// redaction of secrets. That no line is lost at exit is test/e2e/log-exit.test.ts.
import { describe, expect, it } from 'vitest';
import { AppError, errors } from '../../src/errors.js';
import { CENSOR, createLogger, REDACTED_PATHS, SECRET_KEYS, SECRET_PARENTS, scrubUrl, type Level } from '../../src/log.js';
import type { Json } from '../support/json.js';

function capture(level: Level = 'debug') {
  const chunks: string[] = [];
  const log = createLogger(level, { write: (chunk) => void chunks.push(chunk) });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
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
        for (const name of names.slice(0, -1)) {
          const inner: Record<string, unknown> = {};
          at[name] = inner;
          at = inner;
        }
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

it('AppError without a cause still serializes its fields', () => {
  const { log, lines } = capture();
  log.error('x', { err: new AppError(503, 'ServiceUnavailable', 'busy', { retryAfter: 2 }) });
  expect(lines()[0]!.err).toMatchObject({ type: 'AppError', status: 503, code: 'ServiceUnavailable', retryAfter: 2, message: 'busy' });
  expect(lines()[0]!.err).not.toHaveProperty('cause');
});
