// Settings (src/config.ts): defaults, flags over the environment, parsing and fail-fast messages that
// name the setting — core, storage and access settings — and the retired settings warned about at start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../src/cli/serve.js';
import { ConfigError, loadConfig, retiredSettings } from '../../src/config.js';

describe('config', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.storage.root).toMatch(/\/data$/);
    expect(config.cache.imageBytes).toBe(256 * 1024 * 1024);
  });

  it('flags win over the environment', () => {
    expect(loadConfig({ PORT: '9000' }, parseServeArgs(['--port', '9100']).flags).port).toBe(9100);
    expect(loadConfig({}, parseServeArgs(['--port=9200']).flags).port).toBe(9200);
  });

  it('parses byte sizes and storage URLs', () => {
    expect(loadConfig({ STILLFRAME_CACHE_BYTES: '64MB' }).cache.imageBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ STILLFRAME_STORAGE: 'file:///srv/media' }).storage.root).toBe('/srv/media');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be an integer between 0 and 65535, got "eighty"'],
    [{ STILLFRAME_CACHE_BYTES: 'lots' }, 'STILLFRAME_CACHE_BYTES must be a byte size'],
    [{ STILLFRAME_STORAGE: 'ftp://x' }, 'STILLFRAME_STORAGE must be file:///absolute/dir'],
    [{ STILLFRAME_DEMO: 'maybe' }, 'STILLFRAME_DEMO must be true or false'],
    [{ STILLFRAME_WORKERS: '0' }, 'STILLFRAME_WORKERS must be an integer between 1 and 256'],
    [{ STILLFRAME_TONEMAP: 'bt2390' }, 'STILLFRAME_TONEMAP must be one of mobius, hable, reinhard, clip, off'],
  ])('fails fast on %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('names settings of earlier versions that no longer do anything, and what replaced them', () => {
    expect(retiredSettings({ STILLFRAME_FFMPEG: '/usr/bin/ffmpeg', STILLFRAME_MAX_FFMPEG: '4', PORT: '1' })).toEqual([
      'STILLFRAME_FFMPEG is no longer used: the engine is built in (node-av); no ffmpeg binary is used',
      'STILLFRAME_MAX_FFMPEG is no longer used: use STILLFRAME_WORKERS',
    ]);
    expect(retiredSettings({})).toEqual([]);
  });
});

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

  it('a public base URL, with or without {bucket}, without its trailing slash', () => {
    expect(loadConfig({ STILLFRAME_PUBLIC_URL: 'https://cdn.example.com/media/' }).http.publicUrl).toBe('https://cdn.example.com/media');
    expect(loadConfig({ STILLFRAME_PUBLIC_URL: 'https://{bucket}.cdn.example.com' }).http.publicUrl).toBe('https://{bucket}.cdn.example.com');
    expect(loadConfig({}).http.publicUrl).toBeUndefined();
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
    [{ STILLFRAME_PUBLIC_URL: 'cdn.example.com' }, /STILLFRAME_PUBLIC_URL must be an http\(s\) URL such as https:\/\/cdn.example.com/],
    [{ STILLFRAME_PUBLIC_URL: 'https://{bucket}.cdn.example.com/?x=1' }, /STILLFRAME_PUBLIC_URL must be an http\(s\) URL/],
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

describe('access settings', () => {
  it('parses keys, ACLs and key buckets', () => {
    const config = loadConfig({ STILLFRAME_ACCESS_KEYS: 'a:s1,b:s2', STILLFRAME_BUCKET_ACL: 'demo:public-read,media:private', STILLFRAME_KEY_BUCKETS: 'b:demo|media' });
    expect(config.accessKeys).toEqual({ a: 's1', b: 's2' });
    expect(config.access).toEqual({ bucketAcl: { demo: 'public-read', media: 'private' }, keyBuckets: { b: ['demo', 'media'] } });
  });

  it('reads keys from a file (comments and blank lines ignored), merged with the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-keys-'));
    try {
      await writeFile(join(dir, 'keys'), '# rotation\nold:old-secret\n\nnew:new-secret\n');
      expect(loadConfig({ STILLFRAME_ACCESS_KEYS_FILE: join(dir, 'keys'), STILLFRAME_ACCESS_KEYS: 'env:e' }).accessKeys).toEqual({ old: 'old-secret', new: 'new-secret', env: 'e' });
      expect(() => loadConfig({ STILLFRAME_ACCESS_KEYS_FILE: join(dir, 'missing') })).toThrow(/STILLFRAME_ACCESS_KEYS_FILE: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ STILLFRAME_BUCKET_ACL: 'demo:public' }, 'STILLFRAME_BUCKET_ACL must be'],
    [{ STILLFRAME_BUCKET_ACL: 'UPPER:private' }, 'STILLFRAME_BUCKET_ACL must be'],
    [{ STILLFRAME_KEY_BUCKETS: 'a:' }, 'STILLFRAME_KEY_BUCKETS must be'],
    [{ STILLFRAME_ACCESS_KEYS: 'a:s', STILLFRAME_KEY_BUCKETS: 'typo:demo' }, 'STILLFRAME_KEY_BUCKETS names "typo"'],
  ])('fails fast on %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('setting parsers', () => {
  it('byte sizes: plain bytes, k/m/g with or without b, any case, decimals', () => {
    const size = (raw: string) => loadConfig({ STILLFRAME_CACHE_BYTES: raw }).cache.imageBytes;
    expect(['1048576', '1024k', '1024KB', '1m', '1MB', '1mb', '0.5MB', '1 MB'].map(size)).toEqual([1048576, 1048576, 1048576, 1048576, 1048576, 1048576, 524288, 1048576]);
    expect(size('2GB')).toBe(2 * 1024 ** 3);
    expect(() => size('1TB')).toThrow('STILLFRAME_CACHE_BYTES must be a byte size such as 268435456, 256MB or 1GB, got "1TB"');
    expect(() => size('-1')).toThrow(ConfigError);
  });

  it('booleans: 1/true/yes/on and 0/false/no/off, any case', () => {
    expect(['1', 'true', 'YES', 'On'].map((raw) => loadConfig({ STILLFRAME_ALLOW_PUT: raw }).put.enabled)).toEqual([true, true, true, true]);
    expect(['0', 'false', 'No', 'OFF'].map((raw) => loadConfig({ STILLFRAME_ALLOW_PUT: raw }).put.enabled)).toEqual([false, false, false, false]);
  });

  it('an empty value is the default', () => {
    expect(loadConfig({ PORT: '', STILLFRAME_WORKERS: '' }).port).toBe(8080);
  });

  it('storage paths: file:// relative to the working directory, or a bare path', () => {
    expect(loadConfig({ STILLFRAME_STORAGE: 'file://./media' }).storage).toEqual({ kind: 'file', root: join(process.cwd(), 'media') });
    expect(loadConfig({ STILLFRAME_STORAGE: '/srv/media' }).storage).toEqual({ kind: 'file', root: '/srv/media' });
    expect(loadConfig({ STILLFRAME_STORAGE: '/srv/media' }).tasks.stateDir).toBe('/srv/media/.stillframe');
    expect(loadConfig({ STILLFRAME_STORAGE: '/srv/media', STILLFRAME_STATE_DIR: '/var/lib/sf' }).tasks.stateDir).toBe('/var/lib/sf');
  });

  it('webhooks: topic=url pairs', () => {
    expect(loadConfig({ STILLFRAME_WEBHOOKS: 'a=https://hook.example/x, b=http://127.0.0.1:9000/' }).webhooks.topics).toEqual({ a: 'https://hook.example/x', b: 'http://127.0.0.1:9000/' });
    expect(() => loadConfig({ STILLFRAME_WEBHOOKS: 'a=ftp://x' })).toThrow('STILLFRAME_WEBHOOKS must be a comma-separated list of topic=http(s)://url, got "a=ftp://x"');
    expect(() => loadConfig({ STILLFRAME_WEBHOOKS: '=https://x' })).toThrow(ConfigError);
  });

  it('scale-out: a Redis URL, and roles other than all only with it', () => {
    expect(loadConfig({ STILLFRAME_REDIS_URL: 'redis://127.0.0.1:6379/0', STILLFRAME_ROLE: 'worker' }).scale).toEqual({ redisUrl: 'redis://127.0.0.1:6379/0', role: 'worker', lockMs: 30_000, redisPrefix: 'stillframe' });
    expect(() => loadConfig({ STILLFRAME_REDIS_URL: 'http://127.0.0.1:6379' })).toThrow('STILLFRAME_REDIS_URL: expected redis://host:port[/db] or rediss://…, got "http://127.0.0.1:6379"');
    expect(() => loadConfig({ STILLFRAME_ROLE: 'api' })).toThrow('STILLFRAME_ROLE=api needs STILLFRAME_REDIS_URL: the embedded journal is one process\'s');
  });

  it('the ops token: at least 16 characters without spaces', () => {
    expect(loadConfig({ STILLFRAME_OPS_TOKEN: 'a-token-of-16-ch' }).opsToken).toBe('a-token-of-16-ch');
    expect(() => loadConfig({ STILLFRAME_OPS_TOKEN: 'short' })).toThrow('STILLFRAME_OPS_TOKEN must be at least 16 characters without spaces');
    expect(() => loadConfig({ STILLFRAME_OPS_TOKEN: 'sixteen chars and a space' })).toThrow(ConfigError);
  });

  it('the config is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('retired settings: each one present (not empty) is named with what replaced it', () => {
    expect(retiredSettings({ STILLFRAME_TASK_STRATEGY: 'seek', STILLFRAME_FFPROBE: '', STILLFRAME_PROBE_CACHE_ENTRIES: '10' })).toEqual([
      'STILLFRAME_PROBE_CACHE_ENTRIES is no longer used: use STILLFRAME_WORKER_OPEN_SOURCES',
      'STILLFRAME_TASK_STRATEGY is no longer used: tasks decide per gap between wanted frames whether to decode on or seek',
    ]);
  });
});
