// The S3-compatible adapter against the shared conformance suite, on a real S3 server (s3rver), plus the
// S3-specific behaviour (its error mapping is unit-tested: test/unit/source/s3-store.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createS3Store } from '../../src/source/s3-store.js';
import { storeConformance } from './conformance.js';
import { S3_CREDENTIALS, startS3, type S3Server } from '../support/storage.js';

storeConformance('S3-compatible (s3rver)', async () => {
  const s3 = await startS3();
  await s3.createBucket('media');
  return {
    store: createS3Store({ endpoint: s3.endpoint, region: 'us-east-1', credentials: S3_CREDENTIALS, timeoutMs: 5000 }),
    bucket: 'media',
    seed: (bucket, key, body) => s3.put(bucket, key, body),
    writable: true,
    bucketErrors: true,
    env: s3.env,
    close: () => s3.close(),
  };
});

describe('S3 adapter', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('media');
  });
  afterAll(() => s3.close());

  it('describes itself without credentials', () => {
    const store = createS3Store({ endpoint: s3.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDSECRETID', secretAccessKey: 'TOPSECRET' }, timeoutMs: 5000 });
    expect(store.description).toBe(`s3:// at ${s3.endpoint}`);
    expect(store.description).not.toMatch(/AKID|TOPSECRET/);
    expect(createS3Store({ endpoint: undefined, region: 'eu-west-1', credentials: undefined, timeoutMs: 5000 }).description).toBe('s3:// (AWS, eu-west-1)');
  });

  it('uses path-style requests against an endpoint', async () => {
    const store = createS3Store({ endpoint: s3.endpoint, region: 'us-east-1', credentials: S3_CREDENTIALS, timeoutMs: 5000 });
    await s3.put('media', 'path/style.txt', 'hello');
    s3.counter.reset();
    await store.stat('media', 'path/style.txt');
    expect(s3.counter.requests[0]!.path).toBe('/media/path/style.txt');
  });

  it('an unreachable endpoint is a 502, not a 500', async () => {
    const store = createS3Store({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: S3_CREDENTIALS, timeoutMs: 2000 });
    const err = await store.stat('media', 'x.mp4').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(502);
  });
});
