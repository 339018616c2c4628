// The access settings: parsing, the key file, and failing fast on mistakes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { createAccessControl } from '../../../src/http/access.js';

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

  it('the policy: open without keys; with keys private by default, public-read readable, writes need an allowed key', () => {
    const open = createAccessControl({ keys: {}, bucketAcl: {}, keyBuckets: {} });
    expect([open.enabled, open.mayRead(undefined, 'x'), open.mayWrite(undefined, 'x')]).toEqual([false, true, true]);
    const keyed = createAccessControl({ keys: { a: 's', b: 's' }, bucketAcl: { pub: 'public-read' }, keyBuckets: { b: ['own'] } });
    expect(keyed.aclOf('anything')).toBe('private');
    expect(keyed.mayRead(undefined, 'pub')).toBe(true);
    expect(keyed.mayRead(undefined, 'anything')).toBe(false);
    expect(keyed.mayWrite(undefined, 'pub')).toBe(false);
    expect(keyed.mayRead('a', 'anything')).toBe(true);
    expect(keyed.mayRead('b', 'anything')).toBe(false);
    expect(keyed.mayRead('b', 'pub')).toBe(true);
    expect(keyed.mayWrite('b', 'pub')).toBe(false);
    expect(keyed.mayWrite('b', 'own')).toBe(true);
    expect(keyed.mayRead('__proto__', 'anything')).toBe(false);
  });
});
