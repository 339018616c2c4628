// Who may keep an answer, and how long. A public-read bucket's answers (and an open server's) carry the
// configured Cache-Control. A private bucket's answers carry it only as far as a shared cache can tell
// who asked:
// - signed in the query (a presigned URL): the URL is the credential and a cache keys on it, so the
//   answer is shared, but never kept past the signature's expiry (max-age capped, no stale serving);
// - signed in a header (Authorization): a shared cache keying on the URL would hand the answer to
//   anyone asking for that URL, so it is `private` (a browser's own cache only).
import type { AccessControl } from './access.js';
import { parseV4Date } from './oss-auth.js';

/** The Cache-Control of an answer read by `principal` (undefined = anonymous) from `bucket` through `url`. */
export function cacheControlFor(configured: string, access: AccessControl, principal: string | undefined, bucket: string, url: URL, now = Date.now()): string {
  if (principal === undefined || access.mayRead(undefined, bucket)) return configured;
  const until = queryExpiry(url);
  if (until === undefined) return privately(configured);
  const left = Math.max(0, Math.floor((until - now) / 1000));
  const kept = directives(configured).filter((d) => !/^(stale-while-revalidate|stale-if-error|max-age|s-maxage)=/i.test(d));
  return [...kept, `max-age=${Math.min(left, maxAge(configured) ?? left)}`].join(', ');
}

/** When a presigned URL stops being valid (ms), or undefined when the signature is not in the query. */
function queryExpiry(url: URL): number | undefined {
  const q = url.searchParams;
  const v1 = q.get('Expires');
  if (v1 !== null && q.has('Signature')) return Number(v1) * 1000;
  const date = q.get('x-oss-date');
  const expires = q.get('x-oss-expires');
  if (date === null || expires === null || !q.has('x-oss-signature')) return undefined;
  return parseV4Date(date) + Number(expires) * 1000;
}

const directives = (value: string) =>
  value
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);

function maxAge(value: string): number | undefined {
  const m = /(?:^|,)\s*max-age=(\d+)/i.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** `public` becomes `private`; shared-cache-only directives go. */
function privately(value: string): string {
  const kept = directives(value).filter((d) => !/^(public|private|s-maxage=.*|proxy-revalidate)$/i.test(d));
  return ['private', ...kept].join(', ');
}
