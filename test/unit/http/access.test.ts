// The access policy (src/http/access.ts): open without keys; with keys, private by default, public-read
// buckets readable anonymously, writes only by a key allowed the bucket. Its settings are in
// test/unit/config.test.ts.
import { describe, expect, it } from 'vitest';
import { checkTaskBuckets, createAccessControl } from '../../../src/http/access.js';

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

describe('task buckets and object requests', () => {
  const keyed = createAccessControl({ keys: { all: 's', own: 's' }, bucketAcl: { pub: 'public-read' }, keyBuckets: { own: ['mine'] } });

  it('checkTaskBuckets: sources must be readable and outputs writable by the signing key, each named by its field', () => {
    const src = (bucket: string) => [{ field: 'Sources[0].URI', bucket }];
    const out = (bucket: string) => [{ field: 'Targets[0].Image.Snapshots[0].URI', bucket }];
    expect(() => checkTaskBuckets(keyed, 'all', src('any'), out('any'))).not.toThrow();
    expect(() => checkTaskBuckets(keyed, 'own', src('pub'), out('mine'))).not.toThrow();
    expect(() => checkTaskBuckets(keyed, 'own', src('other'), out('mine'))).toThrow('Sources[0].URI: the AccessKeyId may not read bucket "other".');
    expect(() => checkTaskBuckets(keyed, 'own', src('mine'), out('pub'))).toThrow('Targets[0].Image.Snapshots[0].URI: the AccessKeyId may not write bucket "pub".');
    expect(() => checkTaskBuckets(keyed, undefined, src('pub'), out('pub'))).toThrow(/may not write bucket "pub"/);
    // No keys: nothing is checked.
    expect(() => checkTaskBuckets(createAccessControl({ keys: {}, bucketAcl: {}, keyBuckets: {} }), undefined, src('x'), out('y'))).not.toThrow();
  });

  it('authorizeObject: anonymous reads of a public-read bucket only; a private one asks for a signature', () => {
    const get = new Request('http://h/pub/a.jpg');
    expect(keyed.authorizeObject(() => get, new URL(get.url), 'pub', 'a.jpg', 'read')).toBeUndefined();
    expect(() => keyed.authorizeObject(() => get, new URL('http://h/priv/a.jpg'), 'priv', 'a.jpg', 'read')).toThrow('You have no right to access this object because of bucket acl: sign the request.');
    expect(() => keyed.authorizeObject(() => new Request('http://h/pub/a.jpg', { method: 'PUT', body: 'x' }), new URL(get.url), 'pub', 'a.jpg', 'write')).toThrow(/bucket acl/);
    expect(createAccessControl({ keys: {}, bucketAcl: {}, keyBuckets: {} }).authorizeObject(() => get, new URL(get.url), 'pub', 'a.jpg', 'write')).toBeUndefined();
    expect(keyed.restricted('own')).toBe(true);
    expect(keyed.restricted('all')).toBe(false);
  });
});
