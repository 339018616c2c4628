// The official Alibaba Cloud OpenAPI client (@alicloud/openapi-client, which every generated SDK such as
// @alicloud/imm20200930 extends) and its signing utility, loaded as CommonJS (their own module format),
// plus a way to build one ACS3-HMAC-SHA256 signed request with the SDK's own signing code — for tests
// that replay or tamper with a request byte for byte.
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { stringify } from 'node:querystring';
import type * as OpenApiModule from '@alicloud/openapi-client';
import type * as OpenApiUtilModule from '@alicloud/openapi-util';
import type * as TeaUtilModule from '@alicloud/tea-util';
import type { Json } from './json.js';

const require = createRequire(import.meta.url);
export const $OpenApi = require('@alicloud/openapi-client') as (typeof OpenApiModule)['default'];
export const OpenApiUtil = (require('@alicloud/openapi-util') as (typeof OpenApiUtilModule)['default']).default;
export const $Util = require('@alicloud/tea-util') as (typeof TeaUtilModule)['default'];
export type OpenApiClient = InstanceType<typeof $OpenApi.default>;

export const IMM_VERSION = '2020-09-30';

/** A client as the IMM SDK builds one (its config, the server's host:port as the endpoint, plain HTTP). */
export function immClient(baseUrl: string, accessKeyId: string, accessKeySecret: string): OpenApiClient {
  return new $OpenApi.default(new $OpenApi.Config({ accessKeyId, accessKeySecret, endpoint: new URL(baseUrl).host, protocol: 'http' }));
}

/** The Params every IMM 2020-09-30 operation passes to callApi. */
export function immParams(action: string, overrides: Record<string, string> = {}) {
  return new $OpenApi.Params({
    action, version: IMM_VERSION, protocol: 'HTTPS', pathname: '/', method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json', ...overrides,
  });
}

/**
 * What `client.<operation>WithOptions(request, runtime)` does in the generated SDK: object parameters are
 * "shrunk" to JSON strings (arrayToStringWithSpecifiedStyle … "json"), flat parameters go through
 * OpenApiUtil.query() into the query string, the body (when the operation has one) through parseToMap().
 */
export async function callImm(
  client: OpenApiClient,
  action: string,
  query: Record<string, unknown>,
  options: { body?: Record<string, unknown>; headers?: Record<string, string>; params?: Record<string, string> } = {},
): Promise<Json> {
  const shrink = (values: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'object' && v !== null ? OpenApiUtil.arrayToStringWithSpecifiedStyle(v, k, 'json') : v]));
  const request = new $OpenApi.OpenApiRequest({
    query: OpenApiUtil.query(shrink(query)),
    ...(options.body && { body: OpenApiUtil.parseToMap(shrink(options.body)) }),
    ...(options.headers && { headers: options.headers }),
  });
  const response = (await client.callApi(immParams(action, options.params), request, new $Util.RuntimeOptions({}))) as { body: Json };
  return response.body;
}

export interface SignedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** One ACS3-HMAC-SHA256 request signed by the SDK's own getAuthorization, as doRequest() assembles it. */
export function acs3Request(baseUrl: string, accessKeyId: string, secret: string, options: { action: string; query?: Record<string, string>; form?: Record<string, string>; nonce?: string; date?: string }): SignedRequest {
  const body = options.form ? stringify(options.form) : '';
  const headers: Record<string, string> = {
    host: new URL(baseUrl).host,
    'x-acs-version': IMM_VERSION,
    'x-acs-action': options.action,
    'user-agent': 'test',
    'x-acs-date': options.date ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    'x-acs-signature-nonce': options.nonce ?? `n-${Math.random().toString(36).slice(2)}`,
    accept: 'application/json',
    ...(options.form && { 'content-type': 'application/x-www-form-urlencoded' }),
  };
  headers['x-acs-content-sha256'] = createHash('sha256').update(body).digest('hex');
  const query = options.query ?? {};
  const request = { method: 'POST', pathname: '/', query, headers } as unknown as Parameters<typeof OpenApiUtil.getAuthorization>[0];
  headers.Authorization = OpenApiUtil.getAuthorization(request, 'ACS3-HMAC-SHA256', headers['x-acs-content-sha256'], accessKeyId, secret);
  return { method: 'POST', path: `/${Object.keys(query).length ? `?${stringify(query)}` : ''}`, headers, body };
}

/** Sends a request exactly as given (node:http keeps the Host header and every byte of the path). */
export function send(baseUrl: string, req: SignedRequest): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(`${baseUrl}${req.path}`, { method: req.method, headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString() || '{}') as Json }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}
