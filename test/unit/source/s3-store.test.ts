// The S3 adapter's error mapping (src/source/s3-store.ts): the service's errors to the catalogue's codes
// and statuses. The adapter against a real S3 server (s3rver) is test/storage/s3-store.test.ts.
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../../src/errors.js';
import { mapS3Error } from '../../../src/source/s3-store.js';

describe('S3 adapter', () => {
  it('maps the service errors to the catalogue', () => {
    const meta = (status: number) => ({ $metadata: { httpStatusCode: status } });
    const code = (err: unknown) => [(err as AppError).status, (err as AppError).code];
    expect(code(mapS3Error({ name: 'NoSuchKey', ...meta(404) }, 'b', 'k', 'GET'))).toEqual([404, 'NoSuchKey']);
    expect(code(mapS3Error({ name: 'NotFound', ...meta(404) }, 'b', 'k', 'HEAD'))).toEqual([404, 'NoSuchKey']);
    expect(code(mapS3Error({ name: 'NoSuchBucket', ...meta(404) }, 'b', 'k', 'GET'))).toEqual([404, 'NoSuchBucket']);
    expect(code(mapS3Error({ name: 'AccessDenied', ...meta(403) }, 'b', 'k', 'GET'))).toEqual([403, 'AccessDenied']);
    expect(code(mapS3Error({ name: 'SignatureDoesNotMatch', ...meta(403) }, 'b', 'k', 'GET'))).toEqual([403, 'AccessDenied']);
    expect(code(mapS3Error({ name: 'PreconditionFailed', ...meta(412) }, 'b', 'k', 'GET'))).toEqual([412, 'PreconditionFailed']);
    expect(code(mapS3Error({ name: 'TimeoutError' }, 'b', 'k', 'GET'))).toEqual([504, 'GatewayTimeout']);
    expect(code(mapS3Error({ name: 'InternalError', ...meta(500) }, 'b', 'k', 'GET'))).toEqual([502, 'BadGateway']);
  });
});
