// Alibaba Cloud RPC request signatures (SignatureVersion 1.0, HMAC-SHA1), checked when access keys are
// configured: Signature = base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + pe(sorted canonical
// parameters))), over the query and form parameters together, as @alicloud/pop-core sends them. A
// nonce is accepted once (per AccessKeyId, in a NonceStore shared by the fleet when Redis is configured),
// and a timestamp only within 15 minutes of our clock.
import { createHmac } from 'node:crypto';
import { equalSecret } from '../core/equal-secret.js';
import { errors } from '../errors.js';
import type { NonceStore } from './nonce-store.js';

/** RFC 3986 percent-encoding, as the RPC signature defines it. */
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

const SKEW_MS = 15 * 60 * 1000;
const MAX_NONCE_LENGTH = 256;

export interface RpcVerifier {
  /** Resolves with the signing AccessKeyId, or rejects with a 403 (or a 503 when the nonce store is down). */
  verify(method: string, params: Record<string, string>, now?: number): Promise<string>;
}

export function createRpcVerifier(keys: Record<string, string>, nonces: NonceStore): RpcVerifier {
  return {
    async verify(method, params, now = Date.now()) {
      for (const name of ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp']) {
        if (!params[name]) throw errors.forbidden(`Missing${name}`, `The parameter ${name} is required: requests to this server must be signed.`);
      }
      const secret = Object.hasOwn(keys, params.AccessKeyId!) ? keys[params.AccessKeyId!] : undefined;
      if (secret === undefined) throw errors.forbidden('InvalidAccessKeyId.NotFound', 'The AccessKeyId is not known to this server.');
      if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0') {
        throw errors.forbidden('InvalidSignatureMethod', 'Only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is supported.');
      }
      const at = Date.parse(params.Timestamp!);
      if (!Number.isFinite(at) || Math.abs(now - at) > SKEW_MS) {
        throw errors.forbidden('InvalidTimeStamp.Expired', `The Timestamp ${params.Timestamp} is more than 15 minutes away from the server's time.`);
      }
      if (!equalSecret(rpcSignature(secret, method, params), params.Signature!)) {
        throw errors.forbidden('SignatureDoesNotMatch', 'The request signature does not match: check the AccessKeySecret and the string to sign.');
      }
      if (params.SignatureNonce!.length > MAX_NONCE_LENGTH) throw errors.forbidden('IncompleteSignature', `The SignatureNonce is longer than ${MAX_NONCE_LENGTH} characters.`);
      // Valid until the signed time leaves the window: remembered exactly that long.
      if (!(await nonces.claim(`${params.AccessKeyId}:${params.SignatureNonce}`, at + SKEW_MS, now))) {
        throw errors.forbidden('SignatureNonceUsed', 'The SignatureNonce has been used already.');
      }
      return params.AccessKeyId!;
    },
  };
}
