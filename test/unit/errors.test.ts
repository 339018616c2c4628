// The one error type and its catalogue (src/errors.ts): every error the server answers with carries its
// status, code, message and, where OSS names one, its EC; anything else thrown becomes a 500.
import { describe, expect, it } from 'vitest';
import { AbortedError, AppError, errors, SNAPSHOT_PARAM_EC, toAppError } from '../../src/errors.js';

describe('AppError', () => {
  it('carries status, code, message, EC, Retry-After, headers and the cause', () => {
    const cause = new Error('root');
    const err = new AppError(503, 'ServiceUnavailable', 'busy', { ec: '0000-1', retryAfter: 2, headers: { A: 'b' }, cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'AppError', status: 503, code: 'ServiceUnavailable', message: 'busy', ec: '0000-1', retryAfter: 2, headers: { A: 'b' }, cause });
    expect(new AppError(400, 'X', 'y')).toMatchObject({ ec: undefined, retryAfter: undefined, headers: {} });
  });

  it('toAppError: an AppError as it is, anything else a 500 InternalError keeping it as the cause', () => {
    const known = errors.noSuchKey('k');
    expect(toAppError(known)).toBe(known);
    const unknown = new TypeError('boom');
    expect(toAppError(unknown)).toMatchObject({ status: 500, code: 'InternalError', message: 'We encountered an internal error.', cause: unknown });
    expect(toAppError('a string')).toMatchObject({ status: 500, cause: 'a string' });
  });

  it('AbortedError names itself as an abort', () => {
    expect(new AbortedError()).toMatchObject({ name: 'AbortError', message: 'aborted by client' });
  });
});

describe('the catalogue', () => {
  it('snapshot parameters: sharp-style messages with the parameter\'s EC', () => {
    for (const [param, ec] of Object.entries(SNAPSHOT_PARAM_EC)) {
      if (param === 'process') continue;
      expect(errors.snapshotParam(param as keyof typeof SNAPSHOT_PARAM_EC, 'integer >= 0', '-1')).toMatchObject({
        status: 400, code: 'InvalidArgument', ec, message: `Expected integer >= 0 for ${param} but received "-1".`,
      });
    }
    expect(errors.malformedProcess('bad')).toMatchObject({ status: 400, ec: '0053-00000109' });
  });

  it('IMM\'s Missing<Leaf> codes from the parameter path', () => {
    expect(errors.missingParam('ProjectName')).toMatchObject({ status: 400, code: 'MissingProjectName', message: 'The parameter ProjectName is required.' });
    expect(errors.missingParam('Sources[0]').code).toBe('MissingSources');
    expect(errors.missingParam('Targets[0].Image.Snapshots[2].Format').code).toBe('MissingFormat');
  });

  it('statuses and headers of the HTTP-level errors', () => {
    expect(errors.invalidRange(10)).toMatchObject({ status: 416, code: 'InvalidRange', headers: { 'Content-Range': 'bytes */10' } });
    expect(errors.saturated(3)).toMatchObject({ status: 503, code: 'ServiceUnavailable', retryAfter: 3 });
    expect(errors.bodyTooLarge(1024)).toMatchObject({ status: 413, code: 'EntityTooLarge', headers: { Connection: 'close' }, message: 'The request body is larger than 1024 bytes (STILLFRAME_MAX_BODY_BYTES).' });
    expect(errors.timeout('The snapshot', 1200)).toMatchObject({ status: 504, code: 'GatewayTimeout', message: 'The snapshot did not finish within 1200 ms.' });
    expect(errors.workerFailed('SIGSEGV')).toMatchObject({ status: 502, code: 'BadGateway' });
    expect(errors.replayCheckUnavailable(new Error('down'))).toMatchObject({ status: 503, retryAfter: 1 });
    expect(errors.fromWorker({ status: 400, code: 'InvalidArgument', message: 'not media' })).toMatchObject({ status: 400, code: 'InvalidArgument', message: 'not media' });
  });

  it('OSS signature errors are 403s with OSS\'s codes', () => {
    expect([errors.ossExpired(), errors.ossSignatureMismatch(), errors.ossUnknownKey(), errors.ossTimeSkewed()].map((e) => [e.status, e.code])).toEqual([
      [403, 'AccessDenied'],
      [403, 'SignatureDoesNotMatch'],
      [403, 'InvalidAccessKeyId'],
      [403, 'RequestTimeTooSkewed'],
    ]);
  });
});
