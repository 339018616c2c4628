// Alibaba Cloud RPC signatures (src/http/imm-auth.ts): SignatureVersion 1.0 (the documentation's worked
// example) and ACS3-HMAC-SHA256 (requests signed by the OpenAPI SDK's own code), and the verifier's answer
// to each way a request can be wrong — without a server.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { ACS3, acs3CanonicalRequest, acs3Signature, createRpcVerifier, percentEncode, rpcSignature, stringToSign } from '../../../src/http/imm-auth.js';
import { createMemoryNonceStore } from '../../../src/http/nonce-store.js';
import { acs3Request } from '../../support/alicloud-openapi.js';

describe('RPC signature', () => {
  it('signs the sorted, RFC 3986-encoded parameters (Alibaba Cloud SignatureVersion 1.0)', () => {
    const params = { Action: 'ListProjects', Format: 'JSON', Version: '2020-09-30', Name: "a b*c~!'()" };
    expect(stringToSign('POST', params)).toBe(
      'POST&%2F&Action%3DListProjects%26Format%3DJSON%26Name%3Da%2520b%252Ac~%2521%2527%2528%2529%26Version%3D2020-09-30',
    );
    expect(rpcSignature('secret', 'POST', params)).toMatch(/^[A-Za-z0-9+/]{27}=$/);
  });
});

describe('RPC signature, SignatureVersion 1.0', () => {
  it('matches the worked example of the Alibaba Cloud documentation (DescribeRegions, secret "testsecret")', () => {
    const params = {
      AccessKeyId: 'testid', Action: 'DescribeRegions', Format: 'XML', SignatureMethod: 'HMAC-SHA1', SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0', Timestamp: '2016-02-23T12:46:24Z', Version: '2014-05-26',
    };
    expect(stringToSign('GET', params)).toBe(
      'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26',
    );
    expect(rpcSignature('testsecret', 'GET', params)).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    // The Signature parameter itself is never signed.
    expect(rpcSignature('testsecret', 'GET', { ...params, Signature: 'x' })).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('percent-encodes as RFC 3986 (unreserved kept, everything else %XX)', () => {
    expect(percentEncode("AZaz09-_.~ !*'()/+=&%é")).toBe('AZaz09-_.~%20%21%2A%27%28%29%2F%2B%3D%26%25%C3%A9');
  });
});

describe('RPC signature verification', () => {
  const KEYS = { 'key-1': 'secret-1' };
  const NOW = Date.parse('2026-03-05T12:00:00Z');
  const TIMESTAMP = '2026-03-05T12:00:00Z';
  const url = new URL('http://127.0.0.1:8080/');

  const v1 = (extra: Record<string, string> = {}, secret = 'secret-1') => {
    const params: Record<string, string> = {
      Action: 'ListProjects', Version: '2020-09-30', Format: 'JSON', AccessKeyId: 'key-1', SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0',
      SignatureNonce: 'nonce-1', Timestamp: TIMESTAMP, ...extra,
    };
    params.Signature = rpcSignature(secret, 'POST', params);
    return { method: 'POST', url, headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded' }), body: Buffer.from(new URLSearchParams(params).toString()), params };
  };

  const acs3 = (options: { nonce?: string; date?: string; form?: Record<string, string>; query?: Record<string, string> } = {}, secret = 'secret-1') => {
    const signed = acs3Request(url.href, 'key-1', secret, { action: 'ListProjects', date: TIMESTAMP, nonce: 'nonce-a', ...options });
    const signedUrl = new URL(signed.path, url);
    const params = Object.fromEntries([...signedUrl.searchParams, ...new URLSearchParams(signed.body)]);
    return { method: 'POST', url: signedUrl, headers: new Headers(signed.headers), body: Buffer.from(signed.body), params };
  };

  async function refusal(request: Parameters<ReturnType<typeof createRpcVerifier>['verify']>[0], now = NOW) {
    const err = await createRpcVerifier(KEYS, createMemoryNonceStore()).verify(request, now).catch((e: unknown) => e);
    if (!(err instanceof AppError)) throw new Error(`expected a refusal, got ${String(err)}`);
    return { status: err.status, code: err.code };
  }

  it('v1: the signing key; a nonce once', async () => {
    const verifier = createRpcVerifier(KEYS, createMemoryNonceStore());
    expect(await verifier.verify(v1(), NOW)).toEqual({ accessKeyId: 'key-1', version: 'v1' });
    await expect(verifier.verify(v1(), NOW)).rejects.toMatchObject({ status: 403, code: 'SignatureNonceUsed' });
    expect(await verifier.verify(v1({ SignatureNonce: 'nonce-2' }), NOW)).toEqual({ accessKeyId: 'key-1', version: 'v1' });
  });

  it('v1: every refusal has its IMM code', async () => {
    const { Signature: _signature, ...unsigned } = v1().params;
    expect(await refusal({ ...v1(), params: unsigned })).toEqual({ status: 403, code: 'MissingSignature' });
    expect(await refusal(v1({}, 'wrong'))).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await refusal({ ...v1(), params: { ...v1().params, ProjectName: 'added-in-flight' } })).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await refusal(v1({ AccessKeyId: 'nobody' }))).toEqual({ status: 403, code: 'InvalidAccessKeyId.NotFound' });
    expect(await refusal(v1({ SignatureMethod: 'HMAC-SHA256' }))).toEqual({ status: 403, code: 'InvalidSignatureMethod' });
    expect(await refusal(v1(), NOW + 16 * 60_000)).toEqual({ status: 403, code: 'InvalidTimeStamp.Expired' });
    expect(await refusal(v1(), NOW - 16 * 60_000)).toEqual({ status: 403, code: 'InvalidTimeStamp.Expired' });
    expect(await refusal(v1({ SignatureNonce: 'n'.repeat(257) }))).toEqual({ status: 403, code: 'IncompleteSignature' });
    expect(await refusal({ ...v1(), params: undefined })).toEqual({ status: 403, code: 'InvalidParameter.Signature' });
  });

  it('ACS3: the canonical request and signature are the SDK\'s (its Authorization header verifies)', async () => {
    const request = acs3({ form: { ProjectName: 'p' }, query: { Z: '1', A: 'two words' } });
    const authorization = request.headers.get('authorization')!;
    const signed = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
    expect(signed).toEqual(expect.arrayContaining(['content-type', 'host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version']));
    const canonical = acs3CanonicalRequest('POST', '/', [...request.url.searchParams], request.headers, signed, request.headers.get('x-acs-content-sha256')!);
    expect(authorization).toBe(`${ACS3} Credential=key-1,SignedHeaders=${signed.join(';')},Signature=${acs3Signature('secret-1', canonical)}`);
    expect(acs3CanonicalRequest('POST', '/', [['Z', '1'], ['A', 'two words']], new Headers({ host: 'h', 'x-acs-action': 'A' }), ['host', 'x-acs-action'], 'abc')).toBe('POST\n/\nA=two%20words&Z=1\nhost:h\nx-acs-action:A\n\nhost;x-acs-action\nabc');
    expect(await createRpcVerifier(KEYS, createMemoryNonceStore()).verify(request, NOW)).toEqual({ accessKeyId: 'key-1', version: 'acs3', action: 'ListProjects', apiVersion: '2020-09-30' });
  });

  it('ACS3: a changed body, header or secret, a stale date, a reused nonce are refused', async () => {
    const tampered = acs3({ form: { ProjectName: 'p' } });
    expect(await refusal({ ...tampered, body: Buffer.from('ProjectName=q') })).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    const retargeted = acs3();
    retargeted.headers.set('x-acs-action', 'DeleteProject');
    expect(await refusal(retargeted)).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    const unsignedHeader = acs3();
    unsignedHeader.headers.set('x-acs-extra', '1');
    expect(await refusal(unsignedHeader)).toEqual({ status: 403, code: 'IncompleteSignature' });
    expect(await refusal(acs3({}, 'wrong'))).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await refusal(acs3(), NOW + 16 * 60_000)).toEqual({ status: 403, code: 'InvalidTimeStamp.Expired' });
    const verifier = createRpcVerifier(KEYS, createMemoryNonceStore());
    await verifier.verify(acs3(), NOW);
    await expect(verifier.verify(acs3(), NOW)).rejects.toMatchObject({ code: 'SignatureNonceUsed' });
    // A request carrying both kinds of signature.
    expect(await refusal({ ...acs3(), params: { Signature: 'x' } })).toEqual({ status: 403, code: 'IncompleteSignature' });
  });
});
