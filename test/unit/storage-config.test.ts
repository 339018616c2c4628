// Storage settings: where objects live (file://, s3://, http(s)://), S3 credentials, output storage,
// block cache and uploads — validated at start-up with messages that name the setting.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('storage settings', () => {
  it('defaults: a local directory, no output storage, AWS us-east-1, 256 KiB blocks, 256 MiB cache, PUT off', () => {
    const c = loadConfig({});
    expect(c.storage.kind).toBe('file');
    expect(c.outputStorage).toBeUndefined();
    expect(c.s3).toEqual({ endpoint: undefined, region: 'us-east-1', credentials: undefined });
    expect(c.origin).toEqual({ timeoutMs: 10_000, blockSize: 256 * 1024, blockCacheBytes: 256 * 1024 ** 2 });
    expect(c.put).toEqual({ enabled: false, maxBytes: 5 * 1024 ** 3 });
  });

  it('s3:// with an endpoint and a key pair', () => {
    const c = loadConfig({
      STILLFRAME_STORAGE: 's3://',
      STILLFRAME_S3_ENDPOINT: 'http://127.0.0.1:9000/',
      AWS_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'AK',
      AWS_SECRET_ACCESS_KEY: 'SK',
    });
    expect(c.storage).toEqual({ kind: 's3' });
    expect(c.s3).toEqual({ endpoint: 'http://127.0.0.1:9000', region: 'eu-central-1', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } });
    expect(c.tasks.stateDir).toMatch(/\.stillframe$/);
  });

  it('an http(s) origin with a prefix', () => {
    expect(loadConfig({ STILLFRAME_STORAGE: 'https://origin.example.com/prefix/' }).storage).toEqual({ kind: 'http', url: 'https://origin.example.com/prefix' });
    expect(loadConfig({ STILLFRAME_STORAGE: 'http://127.0.0.1:8000' }).storage).toEqual({ kind: 'http', url: 'http://127.0.0.1:8000' });
  });

  it.each([
    [{ STILLFRAME_STORAGE: 's3://bucket' }, /STILLFRAME_STORAGE must be just s3:\/\//],
    [{ STILLFRAME_STORAGE: 'https://origin.example.com/x?sig=1' }, /STILLFRAME_STORAGE must be an http\(s\) URL/],
    [{ STILLFRAME_STORAGE: 'ftp://host/x' }, /STILLFRAME_STORAGE must be file:\/\/\/absolute\/dir, file:\/\/.\/relative\/dir, s3:\/\/ or https/],
    [{ STILLFRAME_S3_ENDPOINT: '127.0.0.1:9000' }, /STILLFRAME_S3_ENDPOINT must be an http\(s\) URL/],
    [{ AWS_ACCESS_KEY_ID: 'AK' }, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together/],
    [{ STILLFRAME_OUTPUT_STORAGE: 'https://origin.example.com/' }, /STILLFRAME_OUTPUT_STORAGE must be file:\/\/\/dir or s3:\/\//],
    [{ STILLFRAME_BLOCK_SIZE: '4KB' }, /STILLFRAME_BLOCK_SIZE must be between 65536 and 8388608 bytes/],
    [{ STILLFRAME_ALLOW_PUT: 'maybe' }, /STILLFRAME_ALLOW_PUT must be true or false/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('output storage, block settings, uploads', () => {
    const c = loadConfig({
      STILLFRAME_STORAGE: 'https://origin.example.com/p',
      STILLFRAME_OUTPUT_STORAGE: 'file:///srv/out',
      STILLFRAME_BLOCK_SIZE: '1MB',
      STILLFRAME_BLOCK_CACHE_BYTES: '1GB',
      STILLFRAME_ORIGIN_TIMEOUT_MS: '2500',
      STILLFRAME_ALLOW_PUT: 'true',
      STILLFRAME_MAX_PUT_BYTES: '100MB',
    });
    expect(c.outputStorage).toEqual({ kind: 'file', root: '/srv/out' });
    expect(c.origin).toEqual({ timeoutMs: 2500, blockSize: 1024 * 1024, blockCacheBytes: 1024 ** 3 });
    expect(c.put).toEqual({ enabled: true, maxBytes: 100 * 1024 ** 2 });
  });
});
