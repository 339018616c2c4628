// Alibaba Cloud RPC signatures (src/http/imm-auth.ts): SignatureVersion 1.0 and ACS3-HMAC-SHA256.
import { describe, expect, it } from 'vitest';
import { rpcSignature, stringToSign } from '../../../src/http/imm-auth.js';

describe('RPC signature', () => {
  it('signs the sorted, RFC 3986-encoded parameters (Alibaba Cloud SignatureVersion 1.0)', () => {
    const params = { Action: 'ListProjects', Format: 'JSON', Version: '2020-09-30', Name: "a b*c~!'()" };
    expect(stringToSign('POST', params)).toBe(
      'POST&%2F&Action%3DListProjects%26Format%3DJSON%26Name%3Da%2520b%252Ac~%2521%2527%2528%2529%26Version%3D2020-09-30',
    );
    expect(rpcSignature('secret', 'POST', params)).toMatch(/^[A-Za-z0-9+/]{27}=$/);
  });
});
