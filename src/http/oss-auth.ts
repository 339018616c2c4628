// OSS request signatures on the object URLs, checked against the configured access keys:
// - V1 presigned URL: ?OSSAccessKeyId=…&Expires=<unix s>&Signature=<base64 HMAC-SHA1>
// - V1 header: Authorization: OSS <AK>:<base64 HMAC-SHA1> (Date or x-oss-date within 15 minutes)
// - V4 presigned URL: ?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=…&x-oss-date=…&x-oss-expires=…&x-oss-signature=<hex>
// - V4 header: Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=<hex>
// The formulas are ali-oss 6.23's (lib/common/signUtils.js), which the tests run against. Signatures are
// compared in constant time; secrets and signatures are never logged or echoed.
import { createHash, createHmac } from 'node:crypto';
import { equalSecret } from '../core/equal-secret.js';
import { errors } from '../errors.js';

/** Query parameters OSS V1 signs besides every `x-oss-*` one (OSS's sub-resource list). */
const V1_SUBRESOURCES = new Set([
  'acl', 'uploads', 'location', 'cors', 'logging', 'website', 'referer', 'lifecycle', 'delete', 'append', 'tagging',
  'objectMeta', 'uploadId', 'partNumber', 'security-token', 'position', 'img', 'style', 'styleName', 'replication',
  'replicationProgress', 'replicationLocation', 'cname', 'bucketInfo', 'comp', 'qos', 'live', 'status', 'vod',
  'startTime', 'endTime', 'symlink', 'response-content-type', 'response-content-language', 'response-expires',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'udf', 'udfName', 'udfImage',
  'udfId', 'udfImageDesc', 'udfApplication', 'udfApplicationLog', 'restore', 'callback', 'callback-var', 'qosInfo',
  'policy', 'stat', 'encryption', 'versions', 'versioning', 'versionId', 'sequential', 'continuation-token',
  'regionList', 'cloudboxes', 'inventory', 'inventoryId', 'worm', 'wormId', 'wormExtend', 'requestPayment',
]);

const SKEW_MS = 15 * 60 * 1000;
/** OSS's longest V4 presigned validity: 7 days. */
const MAX_V4_EXPIRES = 7 * 24 * 3600;


/** One query parameter as sent: decoded name, decoded value, or null when it had no `=`. */
export interface QueryParam {
  name: string;
  value: string | null;
}

/** The raw query (without `?`), split as sent; duplicate names kept. Malformed percent-encoding → 400. */
export function parseRawQuery(search: string): QueryParam[] {
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (!raw) return [];
  const out: QueryParam[] = [];
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        throw errors.invalidArgument('The query string is not valid percent-encoding.');
      }
    };
    out.push(eq < 0 ? { name: decode(part), value: null } : { name: decode(part.slice(0, eq)), value: decode(part.slice(eq + 1)) });
  }
  return out;
}

/** RFC 3986 encoding as ali-oss's encodeString. */
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface SignedRequest {
  method: string;
  headers: Headers;
  query: QueryParam[];
  bucket: string;
  key: string;
}

const single = (query: QueryParam[], name: string): string | undefined => {
  const found = query.filter((p) => p.name === name);
  if (found.length > 1) throw errors.ossDenied(`The parameter ${name} appears more than once.`);
  return found[0]?.value ?? undefined;
};

/** `/bucket/key` with the key decoded, then V1's sorted sub-resources. */
function v1Resource(req: SignedRequest): string {
  const params = req.query
    .filter((p) => p.name.toLowerCase().startsWith('x-oss-') || V1_SUBRESOURCES.has(p.name))
    .map((p) => (p.value ? `${p.name}=${p.value}` : p.name))
    .sort();
  const path = `/${req.bucket}/${req.key}`;
  return params.length ? `${path}?${params.join('&')}` : path;
}

function canonicalOssHeaders(headers: Headers): string[] {
  const out: string[] = [];
  headers.forEach((value, name) => {
    if (name.startsWith('x-oss-')) out.push(`${name}:${value.trim()}`);
  });
  return out.sort();
}

/** VERB, Content-MD5, Content-Type, Expires (URL) or Date (header), x-oss-* headers, resource. */
export function v1StringToSign(req: SignedRequest, dateOrExpires: string): string {
  return [
    req.method.toUpperCase(),
    req.headers.get('content-md5') ?? '',
    req.headers.get('content-type') ?? '',
    dateOrExpires,
    ...canonicalOssHeaders(req.headers),
    v1Resource(req),
  ].join('\n');
}

const v1Sign = (secret: string, text: string) => createHmac('sha1', secret).update(text, 'utf8').digest('base64');

/**
 * The `Signature` of a V1 presigned URL (GET, no headers) for `/bucket/key` with these query parameters
 * (decoded; `x-oss-*` ones are signed) valid until `expires` (Unix s): what ali-oss's signatureUrl computes.
 */
export function v1PresignSignature(secret: string, bucket: string, key: string, query: Record<string, string>, expires: string): string {
  const params = Object.entries(query).map(([name, value]) => ({ name, value }));
  return v1Sign(secret, v1StringToSign({ method: 'GET', headers: new Headers(), query: params, bucket, key }, expires));
}

/**
 * The `x-oss-signature` of a V4 presigned URL (GET, no headers) for `/bucket/key` whose query (decoded)
 * already holds x-oss-signature-version, x-oss-credential, x-oss-date and x-oss-expires: what ali-oss's
 * signatureUrlV4 computes.
 */
export function v4PresignSignature(secret: string, bucket: string, key: string, query: Record<string, string>): string {
  const params = Object.entries(query).map(([name, value]) => ({ name, value }));
  const scope = parseCredential(query['x-oss-credential'] ?? '');
  return v4Signature(secret, scope, query['x-oss-date'] ?? '', v4CanonicalRequest({ method: 'GET', headers: new Headers(), query: params, bucket, key }, [], true));
}

/** yyyymmdd'T'HHMMss'Z' → ms, or NaN. */
export function parseV4Date(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

interface V4Scope {
  accessKeyId: string;
  date: string;
  region: string;
  product: string;
}

function parseCredential(credential: string): V4Scope {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aliyun_v4_request' || !parts[0] || !/^\d{8}$/.test(parts[1]!) || !parts[2] || !parts[3]) {
    throw errors.ossDenied('The credential is malformed: expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.');
  }
  return { accessKeyId: parts[0], date: parts[1]!, region: parts[2]!, product: parts[3]! };
}

/**
 * `bareEmpty`: a parameter sent with an empty value (`style=`) is canonicalised as a bare name (`style`),
 * as ali-oss signs its sub-resources (`subres: { style: '' }` is signed bare but sent as `style=`).
 */
export function v4CanonicalRequest(req: SignedRequest, additionalHeaders: string[], dropSignature: boolean, bareEmpty = false): string {
  const uri = encode(`/${req.bucket}/${req.key}`).replace(/%2F/g, '/');
  const query = req.query
    .filter((p) => !(dropSignature && p.name === 'x-oss-signature'))
    .map((p) => ({ k: encode(p.name), v: p.value === null || (bareEmpty && p.value === '') ? null : encode(p.value) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((p) => (p.v === null ? p.k : `${p.k}=${p.v}`))
    .join('&');
  const names = new Set(additionalHeaders);
  req.headers.forEach((_v, name) => {
    if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) names.add(name);
  });
  const canonicalHeaders = [...names]
    .sort()
    .map((n) => `${n}:${(req.headers.get(n) ?? '').trim()}\n`)
    .join('');
  return [req.method.toUpperCase(), uri, query, canonicalHeaders, additionalHeaders.join(';'), req.headers.get('x-oss-content-sha256') ?? 'UNSIGNED-PAYLOAD'].join('\n');
}

export function v4Signature(secret: string, scope: Pick<V4Scope, 'date' | 'region' | 'product'>, timestamp: string, canonicalRequest: string): string {
  const stringToSign = [
    'OSS4-HMAC-SHA256',
    timestamp,
    `${scope.date}/${scope.region}/${scope.product}/aliyun_v4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key = createHmac('sha256', `aliyun_v4${secret}`).update(scope.date).digest();
  for (const part of [scope.region, scope.product, 'aliyun_v4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/**
 * The V4 signature as sent, or — when a query parameter has an empty value — as ali-oss signs such a
 * request (the empty value as a bare name). Both are computed with the secret: neither widens who may sign.
 */
function v4Matches(req: SignedRequest, secret: string, scope: V4Scope, date: string, extra: string[], dropSignature: boolean, signature: string): boolean {
  if (equalSecret(v4Signature(secret, scope, date, v4CanonicalRequest(req, extra, dropSignature)), signature)) return true;
  if (!req.query.some((p) => p.value === '')) return false;
  return equalSecret(v4Signature(secret, scope, date, v4CanonicalRequest(req, extra, dropSignature, true)), signature);
}

function additional(list: string | undefined): string[] {
  if (!list) return [];
  return [...new Set(list.split(';').map((h) => h.trim().toLowerCase()).filter(Boolean))].sort();
}

/**
 * Checks the request's signature, if it carries one. Returns the AccessKeyId that signed it, or
 * undefined for an anonymous request; throws a 403 AppError for a bad, expired or unknown signature.
 */
export function verifyOssSignature(req: SignedRequest, keys: Record<string, string>, now = Date.now()): string | undefined {
  const authorization = req.headers.get('authorization');
  const secretOf = (id: string) => {
    const secret = Object.hasOwn(keys, id) ? keys[id] : undefined;
    if (secret === undefined) throw errors.ossUnknownKey();
    return secret;
  };

  // V4, query form.
  const v4Version = single(req.query, 'x-oss-signature-version');
  if (v4Version !== undefined) {
    if (authorization) throw errors.ossDenied('A request may carry a signature in the query or in the Authorization header, not both.');
    if (v4Version !== 'OSS4-HMAC-SHA256') throw errors.ossDenied(`Unsupported x-oss-signature-version "${v4Version}".`);
    const credential = single(req.query, 'x-oss-credential');
    const date = single(req.query, 'x-oss-date');
    const expires = single(req.query, 'x-oss-expires');
    const signature = single(req.query, 'x-oss-signature');
    if (!credential || !date || !expires || !signature) {
      throw errors.ossDenied('A V4 signed URL needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.');
    }
    const scope = parseCredential(credential);
    const at = parseV4Date(date);
    if (!Number.isFinite(at) || date.slice(0, 8) !== scope.date) throw errors.ossDenied('x-oss-date is malformed or does not match the credential scope.');
    if (!/^\d{1,7}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_V4_EXPIRES) {
      throw errors.ossDenied(`x-oss-expires must be between 1 and ${MAX_V4_EXPIRES} seconds.`);
    }
    if (at - now > SKEW_MS) throw errors.ossDenied('x-oss-date is in the future.');
    const secret = secretOf(scope.accessKeyId);
    const extra = additional(single(req.query, 'x-oss-additional-headers'));
    if (!v4Matches(req, secret, scope, date, extra, true, signature)) throw errors.ossSignatureMismatch();
    if (now > at + Number(expires) * 1000) throw errors.ossExpired();
    return scope.accessKeyId;
  }

  // V1, query form.
  const v1Key = single(req.query, 'OSSAccessKeyId');
  const v1Signature = single(req.query, 'Signature');
  const v1Expires = single(req.query, 'Expires');
  if (v1Key !== undefined || v1Signature !== undefined) {
    if (authorization) throw errors.ossDenied('A request may carry a signature in the query or in the Authorization header, not both.');
    if (!v1Key || !v1Signature || !v1Expires) throw errors.ossDenied('A signed URL needs OSSAccessKeyId, Expires and Signature.');
    if (!/^\d{1,12}$/.test(v1Expires)) throw errors.ossDenied('Expires must be a Unix time in seconds.');
    const secret = secretOf(v1Key);
    const expected = v1Sign(secret, v1StringToSign(req, v1Expires));
    if (!equalSecret(expected, v1Signature)) throw errors.ossSignatureMismatch();
    if (now > Number(v1Expires) * 1000) throw errors.ossExpired();
    return v1Key;
  }

  if (!authorization) return undefined;

  // Header forms: the request's date must be within 15 minutes of ours.
  const checkDate = (value: string | null, v4: boolean): string => {
    const at = value === null ? Number.NaN : v4 ? parseV4Date(value) : Date.parse(value);
    if (value === null || !Number.isFinite(at)) throw errors.ossDenied(v4 ? 'The x-oss-date header is missing or malformed.' : 'The Date header is missing or malformed.');
    if (Math.abs(now - at) > SKEW_MS) throw errors.ossTimeSkewed();
    return value;
  };

  const v1Header = /^OSS ([^:\s]+):(\S+)$/.exec(authorization);
  if (v1Header) {
    const [, id, signature] = v1Header as unknown as [string, string, string];
    const dateLine = req.headers.get('x-oss-date') ?? req.headers.get('date');
    checkDate(dateLine, false);
    const expected = v1Sign(secretOf(id), v1StringToSign(req, dateLine!));
    if (!equalSecret(expected, signature)) throw errors.ossSignatureMismatch();
    return id;
  }

  const v4Header = /^OSS4-HMAC-SHA256 (.+)$/.exec(authorization);
  if (v4Header) {
    const fields: Record<string, string> = {};
    for (const part of v4Header[1]!.split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    if (!fields.Credential || !fields.Signature) throw errors.ossDenied('The Authorization header needs Credential and Signature.');
    const scope = parseCredential(fields.Credential);
    const date = checkDate(req.headers.get('x-oss-date'), true);
    if (date.slice(0, 8) !== scope.date) throw errors.ossDenied('x-oss-date does not match the credential scope.');
    const secret = secretOf(scope.accessKeyId);
    const extra = additional(fields.AdditionalHeaders);
    for (const h of extra) if (!req.headers.has(h)) throw errors.ossDenied(`The additional header ${h} is not in the request.`);
    if (!v4Matches(req, secret, scope, date, extra, false, fields.Signature)) throw errors.ossSignatureMismatch();
    return scope.accessKeyId;
  }

  throw errors.ossDenied('The Authorization header is not an OSS signature (OSS or OSS4-HMAC-SHA256).');
}
