import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
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

  it('rejects unknown flags', () => {
    expect(() => parseServeArgs(['--prot', '1'])).toThrow(UsageError);
    expect(() => parseServeArgs(['--prot', '1'])).toThrow('stillframe serve: unknown option --prot (see stillframe serve --help)');
  });
});
