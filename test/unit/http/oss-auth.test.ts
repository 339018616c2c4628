// OSS request signatures (src/http/oss-auth.ts), unit by unit: the raw query as sent, V1's string to sign
// and V4's canonical request and signature — each compared with what ali-oss 6.23's own signing code
// (lib/common/signUtils.js) produces for the same request — and verifyOssSignature on every path: anonymous,
// V1 and V4 in the query and in the Authorization header, expired, skewed, unknown key, tampered, ambiguous.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { parseRawQuery, v1StringToSign, v4CanonicalRequest, v4Signature, verifyOssSignature, type SignedRequest } from '../../../src/http/oss-auth.js';

interface SignUtils {
  buildCanonicalString(method: string, resource: string, request: { headers: Record<string, string>; parameters?: Record<string, string | null> }, expires?: string): string;
  computeSignature(secret: string, canonicalString: string): string;
  getCanonicalRequest(method: string, request: { headers: Record<string, string>; queries?: Record<string, string | null> }, bucket: string, object: string, additionalHeaders?: string[]): string;
  getStringToSign(region: string, date: string, canonicalRequest: string): string;
  getSignatureV4(secret: string, date: string, region: string, stringToSign: string): string;
}
const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils.js') as SignUtils;

const KEYS = { LTAIkey: 'the-secret', other: 'other-secret' };
const NOW = Date.UTC(2026, 2, 5, 12, 0, 0);
const V4_DATE = '20260305T120000Z';
const HTTP_DATE = new Date(NOW).toUTCString();

const request = (method: string, search: string, headers: Record<string, string> = {}, key = 'dir/a b.mp4'): SignedRequest => ({
  method,
  headers: new Headers(headers),
  query: parseRawQuery(search),
  bucket: 'media',
  key,
});

function denial(req: SignedRequest, now = NOW): { status: number; code: string; message: string } {
  try {
    verifyOssSignature(req, KEYS, now);
  } catch (err) {
    if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

/** A V1 presigned URL's query, signed as ali-oss signs it. */
function v1Url(expires: number, extra: Record<string, string> = {}, secret = KEYS.LTAIkey, id = 'LTAIkey') {
  const text = signUtils.buildCanonicalString('GET', '/media/dir/a b.mp4', { headers: {}, parameters: extra }, String(expires));
  const q = new URLSearchParams({ ...extra, OSSAccessKeyId: id, Expires: String(expires), Signature: signUtils.computeSignature(secret, text) });
  return q.toString();
}

/** A V4 presigned URL's query, signed as ali-oss signs it. */
function v4Url(expires: string, extra: Record<string, string> = {}, date = V4_DATE, secret = KEYS.LTAIkey) {
  const queries: Record<string, string> = {
    ...extra,
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
    'x-oss-credential': `LTAIkey/${date.slice(0, 8)}/cn-hangzhou/oss/aliyun_v4_request`,
    'x-oss-date': date,
    'x-oss-expires': expires,
  };
  const canonical = signUtils.getCanonicalRequest('GET', { headers: {}, queries }, 'media', 'dir/a b.mp4');
  const signature = signUtils.getSignatureV4(secret, date.slice(0, 8), 'cn-hangzhou', signUtils.getStringToSign('cn-hangzhou', date, canonical));
  return new URLSearchParams({ ...queries, 'x-oss-signature': signature }).toString();
}

describe('parseRawQuery', () => {
  it('splits as sent: decoded names and values, + as a space, duplicates kept, a name without = has no value', () => {
    expect(parseRawQuery('?a=1&b=x+y%2Bz&a=2&flag&empty=&&c=%E2%9C%93')).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: 'x y+z' },
      { name: 'a', value: '2' },
      { name: 'flag', value: null },
      { name: 'empty', value: '' },
      { name: 'c', value: '✓' },
    ]);
    expect(parseRawQuery('')).toEqual([]);
    expect(parseRawQuery('?')).toEqual([]);
    expect(parseRawQuery('x-oss-process=video/snapshot,t_1000')).toEqual([{ name: 'x-oss-process', value: 'video/snapshot,t_1000' }]);
  });

  it('malformed percent-encoding is a 400', () => {
    expect(() => parseRawQuery('a=%zz')).toThrow(AppError);
    expect(() => parseRawQuery('%E2=1')).toThrow('The query string is not valid percent-encoding.');
  });
});

describe('V1 string to sign', () => {
  it('verb, Content-MD5, Content-Type, the date or Expires, sorted x-oss-* headers, the resource with signed sub-resources', () => {
    const req = request('get', 'x-oss-process=video/snapshot,t_1000&unsigned=1&response-content-type=text/plain&acl', {
      'content-type': 'video/mp4',
      'content-md5': 'MD5==',
      'x-oss-meta-b': ' two ',
      'x-oss-meta-a': 'one',
      'cache-control': 'unsigned',
    });
    expect(v1StringToSign(req, '1772712000')).toBe(
      'GET\nMD5==\nvideo/mp4\n1772712000\nx-oss-meta-a:one\nx-oss-meta-b:two\n/media/dir/a b.mp4?acl&response-content-type=text/plain&x-oss-process=video/snapshot,t_1000',
    );
  });

  it('is what ali-oss signs', () => {
    const parameters = { 'x-oss-process': 'video/snapshot,t_1000,f_jpg', 'response-cache-control': 'no-cache' };
    const headers = { 'content-type': 'image/jpeg', 'x-oss-date': HTTP_DATE, 'x-oss-meta-x': 'y' };
    const search = new URLSearchParams(parameters).toString();
    expect(v1StringToSign(request('GET', search, headers), HTTP_DATE)).toBe(signUtils.buildCanonicalString('GET', '/media/dir/a b.mp4', { headers, parameters }, HTTP_DATE));
  });
});

describe('V4 canonical request and signature', () => {
  it('is what ali-oss builds: encoded path, sorted encoded query, content and x-oss-* headers plus the additional ones', () => {
    const queries = { 'x-oss-process': 'video/snapshot,t_1000', 'a b': "it's!", flag: null };
    const headers = { 'content-type': 'video/mp4', 'x-oss-date': V4_DATE, 'x-oss-content-sha256': 'UNSIGNED-PAYLOAD', host: 'media.example.com', range: 'bytes=0-1' };
    const search = 'x-oss-process=video%2Fsnapshot%2Ct_1000&a%20b=it%27s%21&flag';
    const ours = v4CanonicalRequest(request('GET', search, headers), ['host', 'range'], false);
    expect(ours).toBe(signUtils.getCanonicalRequest('GET', { headers, queries }, 'media', 'dir/a b.mp4', ['host', 'range']));
    expect(ours).toBe(
      'GET\n/media/dir/a%20b.mp4\na%20b=it%27s%21&flag&x-oss-process=video%2Fsnapshot%2Ct_1000\n' +
        'content-type:video/mp4\nhost:media.example.com\nrange:bytes=0-1\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20260305T120000Z\n\nhost;range\nUNSIGNED-PAYLOAD',
    );
  });

  it('a presigned URL leaves its own signature out of the canonical query', () => {
    const req = request('GET', 'x-oss-date=1&x-oss-signature=abc');
    expect(v4CanonicalRequest(req, [], true).split('\n')[2]).toBe('x-oss-date=1');
    expect(v4CanonicalRequest(req, [], false).split('\n')[2]).toBe('x-oss-date=1&x-oss-signature=abc');
  });

  it('the signature is ali-oss\'s (signing key derived from the date, region and product)', () => {
    const canonical = 'GET\n/media/x\n\n\n\nUNSIGNED-PAYLOAD';
    const theirs = signUtils.getSignatureV4('the-secret', '20260305', 'cn-hangzhou', signUtils.getStringToSign('cn-hangzhou', V4_DATE, canonical));
    expect(v4Signature('the-secret', { date: '20260305', region: 'cn-hangzhou', product: 'oss' }, V4_DATE, canonical)).toBe(theirs);
    expect(theirs).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verifyOssSignature', () => {
  const EXPIRES = NOW / 1000 + 600;

  it('an unsigned request is anonymous', () => {
    expect(verifyOssSignature(request('GET', 'x-oss-process=video/snapshot,t_0'), KEYS, NOW)).toBeUndefined();
  });

  it('V1 presigned URL: the signing key until Expires, then "Request has expired."', () => {
    const search = v1Url(EXPIRES, { 'x-oss-process': 'video/snapshot,t_1000' });
    expect(verifyOssSignature(request('GET', search), KEYS, NOW)).toBe('LTAIkey');
    expect(verifyOssSignature(request('GET', search), KEYS, EXPIRES * 1000)).toBe('LTAIkey');
    expect(denial(request('GET', search), EXPIRES * 1000 + 1)).toEqual({ status: 403, code: 'AccessDenied', message: 'Request has expired.' });
  });

  it('V1 presigned URL: a changed process, key, secret or method does not match; an unknown key is named so', () => {
    const search = v1Url(EXPIRES, { 'x-oss-process': 'video/snapshot,t_1000' });
    const mismatch = { status: 403, code: 'SignatureDoesNotMatch', message: expect.stringContaining('does not match') };
    expect(denial(request('GET', search.replace('t_1000', 't_2000')))).toEqual(mismatch);
    expect(denial(request('GET', search, {}, 'dir/other.mp4'))).toEqual(mismatch);
    expect(denial(request('PUT', search))).toEqual(mismatch);
    expect(denial(request('GET', v1Url(EXPIRES, {}, 'wrong-secret')))).toEqual(mismatch);
    expect(denial(request('GET', v1Url(EXPIRES, {}, 'x', 'nobody')))).toMatchObject({ code: 'InvalidAccessKeyId' });
  });

  it('V1 presigned URL: all three parameters, Expires in seconds, each parameter once', () => {
    expect(denial(request('GET', 'OSSAccessKeyId=LTAIkey&Signature=x')).message).toBe('A signed URL needs OSSAccessKeyId, Expires and Signature.');
    expect(denial(request('GET', 'OSSAccessKeyId=LTAIkey&Signature=x&Expires=soon')).message).toBe('Expires must be a Unix time in seconds.');
    expect(denial(request('GET', `${v1Url(EXPIRES)}&Signature=again`)).message).toBe('The parameter Signature appears more than once.');
  });

  it('V1 Authorization header: signed with the Date (or x-oss-date), within 15 minutes', () => {
    const sign = (date: string, headers: Record<string, string> = {}) => {
      const text = signUtils.buildCanonicalString('GET', '/media/dir/a b.mp4', { headers }, date);
      return request('GET', '', { date, ...headers, authorization: `OSS LTAIkey:${signUtils.computeSignature(KEYS.LTAIkey, text)}` });
    };
    expect(verifyOssSignature(sign(HTTP_DATE), KEYS, NOW)).toBe('LTAIkey');
    expect(verifyOssSignature(sign(HTTP_DATE), KEYS, NOW + 15 * 60_000)).toBe('LTAIkey');
    expect(denial(sign(HTTP_DATE), NOW + 15 * 60_000 + 1000)).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
    expect(denial(sign(HTTP_DATE), NOW - 16 * 60_000)).toMatchObject({ code: 'RequestTimeTooSkewed' });
    expect(denial(request('GET', '', { authorization: 'OSS LTAIkey:abc' })).message).toBe('The Date header is missing or malformed.');
    // x-oss-date (signed as a header too) stands for Date.
    const viaOssDate = sign('', { 'x-oss-date': HTTP_DATE });
    viaOssDate.headers.delete('date');
    expect(verifyOssSignature(viaOssDate, KEYS, NOW)).toBe('LTAIkey');
  });

  it('V4 presigned URL: the signing key until x-oss-date + x-oss-expires; bounded validity; not from the future', () => {
    const search = v4Url('600', { 'x-oss-process': 'video/snapshot,t_1000' });
    expect(verifyOssSignature(request('GET', search), KEYS, NOW)).toBe('LTAIkey');
    expect(denial(request('GET', search), NOW + 600_001)).toMatchObject({ code: 'AccessDenied', message: 'Request has expired.' });
    expect(denial(request('GET', search.replace('t_1000', 't_0')))).toMatchObject({ code: 'SignatureDoesNotMatch' });
    expect(denial(request('GET', v4Url('604801'))).message).toBe('x-oss-expires must be between 1 and 604800 seconds.');
    expect(denial(request('GET', v4Url('600', {}, '20260305T123000Z'))).message).toBe('x-oss-date is in the future.');
    expect(denial(request('GET', v4Url('600').replace('x-oss-date=20260305', 'x-oss-date=20260304'))).message).toBe('x-oss-date is malformed or does not match the credential scope.');
    expect(denial(request('GET', v4Url('600').replace('OSS4-HMAC-SHA256', 'OSS5'))).message).toBe('Unsupported x-oss-signature-version "OSS5".');
    expect(denial(request('GET', 'x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=a%2Fb')).message).toBe('A V4 signed URL needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.');
  });

  it('V4 Authorization header, with additional headers that must be present', () => {
    const headers = { 'x-oss-date': V4_DATE, 'x-oss-content-sha256': 'UNSIGNED-PAYLOAD', host: 'h.example' };
    const canonical = signUtils.getCanonicalRequest('GET', { headers }, 'media', 'dir/a b.mp4', ['host']);
    const signature = signUtils.getSignatureV4(KEYS.LTAIkey, '20260305', 'cn-hangzhou', signUtils.getStringToSign('cn-hangzhou', V4_DATE, canonical));
    const authorization = `OSS4-HMAC-SHA256 Credential=LTAIkey/20260305/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host,Signature=${signature}`;
    expect(verifyOssSignature(request('GET', '', { ...headers, authorization }), KEYS, NOW)).toBe('LTAIkey');
    expect(denial(request('GET', '', { ...headers, host: 'other.example', authorization }))).toMatchObject({ code: 'SignatureDoesNotMatch' });
    const { host: _host, ...withoutHost } = headers;
    expect(denial(request('GET', '', { ...withoutHost, authorization })).message).toBe('The additional header host is not in the request.');
    expect(denial(request('GET', '', { ...headers, authorization }), NOW + 20 * 60_000)).toMatchObject({ code: 'RequestTimeTooSkewed' });
    expect(denial(request('GET', '', { authorization: 'OSS4-HMAC-SHA256 Credential=LTAIkey/20260305/cn-hangzhou/oss/aliyun_v4_request' })).message).toBe('The Authorization header needs Credential and Signature.');
    expect(denial(request('GET', '', { authorization: 'OSS4-HMAC-SHA256 Credential=LTAIkey/2026/cn-hangzhou/oss/x,Signature=00' })).message).toMatch(/^The credential is malformed/);
  });

  it('one signature per request, and only OSS schemes', () => {
    expect(denial(request('GET', v1Url(EXPIRES), { authorization: 'OSS LTAIkey:abc' })).message).toBe('A request may carry a signature in the query or in the Authorization header, not both.');
    expect(denial(request('GET', v4Url('600'), { authorization: 'OSS LTAIkey:abc' })).message).toBe('A request may carry a signature in the query or in the Authorization header, not both.');
    expect(denial(request('GET', '', { authorization: 'Bearer abc' })).message).toBe('The Authorization header is not an OSS signature (OSS or OSS4-HMAC-SHA256).');
  });

  it('a key named like an Object.prototype member is unknown', () => {
    expect(denial(request('GET', v1Url(EXPIRES, {}, 'x', '__proto__')))).toMatchObject({ code: 'InvalidAccessKeyId' });
  });
});
