// The access policy (src/http/access.ts): open without keys; with keys, private by default, public-read
// buckets readable anonymously, writes only by a key allowed the bucket. Its settings are in
// test/unit/config.test.ts.
import { describe, expect, it } from 'vitest';
import { createAccessControl } from '../../../src/http/access.js';

describe('access control', () => {
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
