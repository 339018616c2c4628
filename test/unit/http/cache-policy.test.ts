// Who may keep an answer (src/http/cache-policy.ts): the configured Cache-Control for public data, capped
// at a presigned URL's expiry, `private` for a header-signed read of a private bucket.
import { describe, expect, it } from 'vitest';
import { createAccessControl } from '../../../src/http/access.js';
import { cacheControlFor } from '../../../src/http/cache-policy.js';

const CONFIGURED = 'public, max-age=86400, stale-while-revalidate=3600';
const access = createAccessControl({ keys: { AK: 'secret' }, bucketAcl: { pub: 'public-read' }, keyBuckets: {} });
const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const url = (query: string) => new URL(`http://localhost/b/k.mp4?x-oss-process=video/snapshot,t_0${query}`);

describe('cacheControlFor', () => {
  it('public data keeps the configured value: a public-read bucket, signed or not; an open server', () => {
    expect(cacheControlFor(CONFIGURED, access, undefined, 'pub', url(''), NOW)).toBe(CONFIGURED);
    expect(cacheControlFor(CONFIGURED, access, 'AK', 'pub', url(''), NOW)).toBe(CONFIGURED);
    const open = createAccessControl({ keys: {}, bucketAcl: {}, keyBuckets: {} });
    expect(cacheControlFor(CONFIGURED, open, undefined, 'priv', url(''), NOW)).toBe(CONFIGURED);
  });

  it('a private bucket read with a header signature: private, for the browser only', () => {
    expect(cacheControlFor(CONFIGURED, access, 'AK', 'priv', url(''), NOW)).toBe('private, max-age=86400, stale-while-revalidate=3600');
    expect(cacheControlFor('max-age=60, s-maxage=600', access, 'AK', 'priv', url(''), NOW)).toBe('private, max-age=60');
  });

  it('a presigned URL of a private bucket: shared, but never past its expiry and never served stale', () => {
    const v1 = `&OSSAccessKeyId=AK&Expires=${NOW / 1000 + 600}&Signature=x`;
    expect(cacheControlFor(CONFIGURED, access, 'AK', 'priv', url(v1), NOW)).toBe('public, max-age=600');
    const v4 = '&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20261203T115500Z&x-oss-expires=900&x-oss-signature=x';
    expect(cacheControlFor(CONFIGURED, access, 'AK', 'priv', url(v4), NOW)).toBe('public, max-age=600');
    // A long validity keeps the configured max-age.
    const long = `&OSSAccessKeyId=AK&Expires=${NOW / 1000 + 7 * 86400}&Signature=x`;
    expect(cacheControlFor(CONFIGURED, access, 'AK', 'priv', url(long), NOW)).toBe('public, max-age=86400');
  });
});
