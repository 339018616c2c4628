// Who may read and write which bucket. With no access keys configured everything is open (the server
// binds to loopback by default and says so at start-up). With keys:
// - a bucket's ACL is STILLFRAME_BUCKET_ACL's entry, else `private`;
// - `public-read` buckets are readable anonymously; every other read and every write needs a request
//   signed with a key (OSS V1/V4 on object URLs, the RPC signature on IMM actions);
// - a key may use every bucket unless STILLFRAME_KEY_BUCKETS lists the buckets it may use.
import { errors } from '../errors.js';
import { parseRawQuery, v1PresignSignature, v4PresignSignature, verifyOssSignature } from './oss-auth.js';

export type BucketAcl = 'private' | 'public-read';

export interface AccessSettings {
  /** AccessKeyId → secret; empty = open access. */
  keys: Record<string, string>;
  /** Bucket → ACL; unlisted buckets are private once a key exists. */
  bucketAcl: Record<string, BucketAcl>;
  /** AccessKeyId → the buckets it may use (`*` = all); unlisted keys may use every bucket. */
  keyBuckets: Record<string, string[]>;
}

export interface AccessControl {
  /** Keys are configured: requests are checked. */
  readonly enabled: boolean;
  aclOf(bucket: string): BucketAcl;
  /** May this principal (an AccessKeyId, or undefined = anonymous) read / write the bucket? */
  mayRead(principal: string | undefined, bucket: string): boolean;
  mayWrite(principal: string | undefined, bucket: string): boolean;
  /** STILLFRAME_KEY_BUCKETS limits this key to some buckets (it does not list `*` for it). */
  restricted(principal: string): boolean;
  /**
   * Checks an object request (GET/HEAD/PUT) before anything is read: verifies any signature it carries,
   * then the bucket's ACL. Returns the signing AccessKeyId (undefined when anonymous); throws 403.
   * `request` is asked for only when keys are configured: without them, a cached hit never builds one.
   */
  authorizeObject(request: () => Request, url: URL, bucket: string, key: string, mode: 'read' | 'write'): string | undefined;
  /**
   * Presigns a GET of `/bucket/key?<query>` as `as` says (V1 or V4, that key, that expiry): the query
   * parameters to add, or undefined when the key is not configured. For URLs the server hands out
   * (a storyboard's sheets).
   */
  presign(bucket: string, key: string, query: Record<string, string>, as: PresignAs): Record<string, string> | undefined;
}

/** How a handed-out URL is signed: V1 until `expires` (Unix s), or V4 in the scope and validity of a V4 URL. */
export type PresignAs =
  | { version: 1; accessKeyId: string; expires: string }
  | { version: 4; accessKeyId: string; credential: string; date: string; expires: string };

export function createAccessControl(settings: AccessSettings): AccessControl {
  const enabled = Object.keys(settings.keys).length > 0;
  const aclOf = (bucket: string): BucketAcl => (Object.hasOwn(settings.bucketAcl, bucket) ? settings.bucketAcl[bucket]! : enabled ? 'private' : 'public-read');
  const allowedOf = (principal: string) => (Object.hasOwn(settings.keyBuckets, principal) ? settings.keyBuckets[principal]! : ['*']);
  const restricted = (principal: string) => !allowedOf(principal).includes('*');
  const keyMayUse = (principal: string, bucket: string) =>
    Object.hasOwn(settings.keys, principal) && (!restricted(principal) || allowedOf(principal).includes(bucket));
  const mayRead = (principal: string | undefined, bucket: string) =>
    !enabled || aclOf(bucket) === 'public-read' || (principal !== undefined && keyMayUse(principal, bucket));
  const mayWrite = (principal: string | undefined, bucket: string) => !enabled || (principal !== undefined && keyMayUse(principal, bucket));
  return {
    enabled,
    aclOf,
    mayRead,
    mayWrite,
    restricted,
    authorizeObject(lazyRequest, url, bucket, key, mode) {
      if (!enabled) return undefined;
      const request = lazyRequest();
      const principal = verifyOssSignature(
        { method: request.method, headers: request.headers, query: parseRawQuery(url.search), bucket, key },
        settings.keys,
      );
      const allowed = mode === 'read' ? mayRead(principal, bucket) : mayWrite(principal, bucket);
      if (!allowed) {
        throw principal === undefined
          ? errors.ossDenied('You have no right to access this object because of bucket acl: sign the request.')
          : errors.ossDenied(`The AccessKeyId ${principal} may not ${mode} bucket "${bucket}".`);
      }
      return principal;
    },
    presign(bucket, key, query, as): Record<string, string> | undefined {
      if (!Object.hasOwn(settings.keys, as.accessKeyId)) return undefined;
      const secret = settings.keys[as.accessKeyId]!;
      if (as.version === 1) {
        return { OSSAccessKeyId: as.accessKeyId, Expires: as.expires, Signature: v1PresignSignature(secret, bucket, key, query, as.expires) };
      }
      const v4 = { 'x-oss-signature-version': 'OSS4-HMAC-SHA256', 'x-oss-credential': as.credential, 'x-oss-date': as.date, 'x-oss-expires': as.expires };
      return { ...v4, 'x-oss-signature': v4PresignSignature(secret, bucket, key, { ...query, ...v4 }) };
    },
  };
}

/** A task's sources must be readable and its outputs writable by the key that signed the request. */
export function checkTaskBuckets(access: AccessControl, principal: string | undefined, sources: { field: string; bucket: string }[], outputs: { field: string; bucket: string }[]) {
  if (!access.enabled) return;
  for (const s of sources) {
    if (!access.mayRead(principal, s.bucket)) throw errors.forbidden('AccessDenied', `${s.field}: the AccessKeyId may not read bucket "${s.bucket}".`);
  }
  for (const o of outputs) {
    if (!access.mayWrite(principal, o.bucket)) throw errors.forbidden('AccessDenied', `${o.field}: the AccessKeyId may not write bucket "${o.bucket}".`);
  }
}
