// Alibaba Cloud RPC request signatures, checked when access keys are configured. Two versions, as the
// official clients send them:
//  - v1 (`@alicloud/pop-core`, `stillframe task`): SignatureVersion 1.0, HMAC-SHA1 —
//    Signature = base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + pe(sorted query + form parameters)));
//  - ACS3-HMAC-SHA256 (`@alicloud/openapi-client`, which the generated IMM SDKs extend; its default):
//    `Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<h1;h2…>,Signature=<hex>` where
//    Signature = hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + hex(SHA256(canonical request)))) and the
//    canonical request is METHOD \n path \n sorted pe(name)=pe(value) query \n `name:value\n` per signed
//    header \n signed header names \n x-acs-content-sha256 (hex SHA-256 of the body, checked against it).
// Either way a nonce is accepted once (per AccessKeyId, in a NonceStore shared by the fleet when Redis is
// configured) and a timestamp only within 15 minutes of our clock. Access rules then apply to the
// AccessKeyId alike, whichever version signed.
import { createHash, createHmac } from 'node:crypto';
import { equalSecret } from '../core/equal-secret.js';
import { errors } from '../errors.js';
import type { NonceStore } from './nonce-store.js';

/** RFC 3986 percent-encoding, as both signature versions define it. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function stringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`)
    .join('&');
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonical)}`;
}

export function rpcSignature(secret: string, method: string, params: Record<string, string>): string {
  return createHmac('sha1', `${secret}&`).update(stringToSign(method, params)).digest('base64');
}

export const ACS3 = 'ACS3-HMAC-SHA256';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The ACS3 canonical request of a request (its query as sent, the named headers, the body's hash). */
export function acs3CanonicalRequest(method: string, path: string, query: [string, string][], headers: Headers, signedHeaders: string[], payloadHash: string): string {
  const canonicalQuery = query
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(headers.get(name) ?? '').trim()}\n`).join('');
  return [method.toUpperCase(), path, canonicalQuery, canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

export function acs3Signature(secret: string, canonicalRequest: string): string {
  return createHmac('sha256', secret).update(`${ACS3}\n${sha256(canonicalRequest)}`).digest('hex');
}

const SKEW_MS = 15 * 60 * 1000;
const MAX_NONCE_LENGTH = 256;
/** What an ACS3 signature must cover: the action, its version, the time, the nonce and the body's hash. */
const ACS3_REQUIRED = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version'];

export interface RpcRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** The raw body (empty for GET). */
  body: Buffer;
  /** Query and form parameters as strings (what a v1 signature covers); undefined for a JSON body. */
  params: Record<string, string> | undefined;
}

export interface Verified {
  accessKeyId: string;
  version: 'v1' | 'acs3';
  /** ACS3: the signed x-acs-action and x-acs-version headers (v1 signs the Action and Version parameters). */
  action?: string;
  apiVersion?: string;
}

export interface RpcVerifier {
  /** Resolves with the signing key, or rejects with a 403 (or a 503 when the nonce store is down). */
  verify(request: RpcRequest, now?: number): Promise<Verified>;
}

const incomplete = (message: string) => errors.forbidden('IncompleteSignature', message);

export function createRpcVerifier(keys: Record<string, string>, nonces: NonceStore): RpcVerifier {
  const secretOf = (id: string) => {
    const secret = Object.hasOwn(keys, id) ? keys[id] : undefined;
    if (secret === undefined) throw errors.forbidden('InvalidAccessKeyId.NotFound', 'The AccessKeyId is not known to this server.');
    return secret;
  };
  const checkTime = (raw: string, at: number, now: number) => {
    if (!Number.isFinite(at) || Math.abs(now - at) > SKEW_MS) {
      throw errors.forbidden('InvalidTimeStamp.Expired', `The Timestamp ${raw} is more than 15 minutes away from the server's time.`);
    }
  };

  function verifyV1(method: string, params: Record<string, string>, now: number) {
    for (const name of ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp']) {
      if (!params[name]) throw errors.forbidden(`Missing${name}`, `The parameter ${name} is required: requests to this server must be signed.`);
    }
    const secret = secretOf(params.AccessKeyId!);
    if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0') {
      throw errors.forbidden('InvalidSignatureMethod', `Only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 (or an ${ACS3} Authorization header) is supported.`);
    }
    checkTime(params.Timestamp!, Date.parse(params.Timestamp!), now);
    if (!equalSecret(rpcSignature(secret, method, params), params.Signature!)) {
      throw errors.forbidden('SignatureDoesNotMatch', 'The request signature does not match: check the AccessKeySecret and the string to sign.');
    }
    return { accessKeyId: params.AccessKeyId!, nonce: params.SignatureNonce!, at: Date.parse(params.Timestamp!) };
  }

  function verifyAcs3(request: RpcRequest, authorization: string, now: number) {
    const space = authorization.indexOf(' ');
    const algorithm = space < 0 ? authorization : authorization.slice(0, space);
    if (algorithm !== ACS3) throw errors.forbidden('InvalidSignatureMethod', `Only the ${ACS3} signature algorithm is supported, not ${algorithm}.`);
    const fields: Record<string, string> = {};
    for (const part of authorization.slice(space + 1).split(',')) {
      const eq = part.indexOf('=');
      const name = part.slice(0, eq).trim();
      if (eq <= 0 || Object.hasOwn(fields, name)) throw incomplete('The Authorization header is malformed: expected Credential=…,SignedHeaders=…,Signature=….');
      fields[name] = part.slice(eq + 1).trim();
    }
    const { Credential: accessKeyId, SignedHeaders: signedList, Signature: signature } = fields;
    if (!accessKeyId || !signedList || !signature || Object.keys(fields).length !== 3) {
      throw incomplete('The Authorization header is malformed: expected Credential=…,SignedHeaders=…,Signature=….');
    }
    const secret = secretOf(accessKeyId);
    const signed = signedList.split(';');
    if (signed.some((h, i) => !/^[a-z0-9-]+$/.test(h) || (i > 0 && h <= signed[i - 1]!))) {
      throw incomplete('SignedHeaders must be lower-case header names, sorted, each once.');
    }
    // Everything that steers the request must be signed: an unsigned header could be changed in flight.
    const mustSign = new Set(ACS3_REQUIRED);
    for (const [name] of request.headers) if (name.startsWith('x-acs-') || name === 'content-type') mustSign.add(name);
    for (const name of mustSign) {
      if (!signed.includes(name)) throw incomplete(`The header ${name} must be present and signed (SignedHeaders).`);
    }
    for (const name of signed) if (!request.headers.has(name)) throw incomplete(`The signed header ${name} is missing from the request.`);
    const date = request.headers.get('x-acs-date')!;
    checkTime(date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(date) ? Date.parse(date) : NaN, now);

    const query: [string, string][] = [...new URLSearchParams(request.url.search)];
    const names = new Set(query.map(([k]) => k));
    if (names.size !== query.length) throw incomplete('A query parameter appears more than once.');
    const payloadHash = request.headers.get('x-acs-content-sha256')!;
    const canonical = acs3CanonicalRequest(request.method, request.url.pathname, query, request.headers, signed, payloadHash);
    if (!equalSecret(acs3Signature(secret, canonical), signature)) {
      throw errors.forbidden('SignatureDoesNotMatch', 'The request signature does not match: check the AccessKeySecret and the canonical request.');
    }
    // The signature covers the hash the client sent; the body must be what it hashed.
    if (!equalSecret(sha256(request.body), payloadHash.toLowerCase())) {
      throw errors.forbidden('SignatureDoesNotMatch', 'x-acs-content-sha256 does not match the SHA-256 of the request body.');
    }
    return {
      accessKeyId,
      nonce: request.headers.get('x-acs-signature-nonce')!,
      at: Date.parse(date),
      action: request.headers.get('x-acs-action')!,
      apiVersion: request.headers.get('x-acs-version')!,
    };
  }

  return {
    async verify(request, now = Date.now()) {
      const authorization = request.headers.get('authorization');
      const acs3 = authorization !== null && /^ACS3-/i.test(authorization);
      if (acs3 && request.params?.Signature !== undefined) {
        throw incomplete(`A request carries either the Signature parameter or an ${ACS3} Authorization header, not both.`);
      }
      let result: { accessKeyId: string; nonce: string; at: number; action?: string; apiVersion?: string };
      if (acs3) result = verifyAcs3(request, authorization, now);
      else if (request.params) result = verifyV1(request.method, request.params, now);
      else {
        throw errors.forbidden('InvalidParameter.Signature', `JSON bodies cannot carry a v1 RPC signature: send a signed form (as @alicloud/pop-core or \`stillframe task\` do) or sign with ${ACS3}.`);
      }
      if (result.nonce.length > MAX_NONCE_LENGTH) throw incomplete(`The signature nonce is longer than ${MAX_NONCE_LENGTH} characters.`);
      // Valid until the signed time leaves the window: remembered exactly that long.
      if (!(await nonces.claim(`${result.accessKeyId}:${result.nonce}`, result.at + SKEW_MS, now))) {
        throw errors.forbidden('SignatureNonceUsed', 'The SignatureNonce has been used already.');
      }
      return {
        accessKeyId: result.accessKeyId,
        version: acs3 ? 'acs3' : 'v1',
        ...(result.action !== undefined && { action: result.action, apiVersion: result.apiVersion }),
      };
    },
  };
}
