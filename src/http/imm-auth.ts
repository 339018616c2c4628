// Alibaba Cloud RPC request signatures (SignatureVersion 1.0, HMAC-SHA1), checked when access keys are
// configured: Signature = base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + pe(sorted canonical
// parameters))), over the query and form parameters together, as @alicloud/pop-core sends them. A
// nonce is accepted once, and a timestamp only within 15 minutes of our clock.
import { createHmac } from 'node:crypto';
import { equalSecret } from '../core/equal-secret.js';
import { errors } from '../errors.js';

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
const MAX_NONCES = 200_000;

export interface RpcVerifier {
  verify(method: string, params: Record<string, string>, now?: number): void;
}

export function createRpcVerifier(keys: Record<string, string>): RpcVerifier {
  // Nonces seen within the skew window, in arrival order (Map keeps insertion order): expiry → drop.
  const nonces = new Map<string, number>();
  const forget = (now: number) => {
    for (const [nonce, at] of nonces) {
      if (now - at <= SKEW_MS && nonces.size <= MAX_NONCES) break;
      nonces.delete(nonce);
    }
  };
  return {
    verify(method, params, now = Date.now()) {
      for (const name of ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp']) {
        if (!params[name]) throw errors.forbidden(`Missing${name}`, `The parameter ${name} is required: requests to this server must be signed.`);
      }
      const secret = keys[params.AccessKeyId!];
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
      forget(now);
      const nonceKey = `${params.AccessKeyId}\u0000${params.SignatureNonce}`;
      if (nonces.has(nonceKey)) throw errors.forbidden('SignatureNonceUsed', 'The SignatureNonce has been used already.');
      nonces.set(nonceKey, now);
    },
  };
}
