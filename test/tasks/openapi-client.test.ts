// Round trip through the official Alibaba Cloud OpenAPI client, @alicloud/openapi-client — the class every
// generated SDK (@alicloud/imm20200930 included) extends — called exactly as the IMM SDK's methods call it
// (callApi with the action's Params, style RPC, formData, ACS3-HMAC-SHA256 signing by default), with the
// server's host:port as the endpoint. Parameters in the query string, and complex ones (Sources, Targets)
// in the form body; errors; a wrong secret, a reused nonce, a skewed clock and tampering refused; access
// rules (STILLFRAME_KEY_BUCKETS) identical to the v1 signature's.
import RPCClient from '@alicloud/pop-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpcSignature } from '../../src/http/imm-auth.js';
import { acs3Request, callImm, immClient, send, type OpenApiClient } from '../support/alicloud-openapi.js';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const KEY_ID = 'acs3-key';
const SECRET = 'acs3-secret-0123456789';
const LIMITED = 'limited-key';
const LIMITED_SECRET = 'limited-secret-0123456789';

let server: TestServer;
let client: OpenApiClient;

beforeAll(async () => {
  server = await startServer({
    env: {
      STILLFRAME_ACCESS_KEYS: `${KEY_ID}:${SECRET},${LIMITED}:${LIMITED_SECRET}`,
      STILLFRAME_BUCKET_ACL: 'test-bucket:public-read',
      STILLFRAME_KEY_BUCKETS: `${LIMITED}:other-bucket`,
    },
    objects: {
      'test-bucket/video-demo/Winemaking.mov': await fixture({ container: 'mov', codec: 'h264', seconds: 4 }),
      'other-bucket/.keep': Buffer.alloc(0),
    },
  });
  client = immClient(server.url, KEY_ID, SECRET);
});

afterAll(() => server?.close());

const error = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as { code: string; data: Json });
const stamp = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString().replace(/\.\d+Z$/, 'Z');
const snapshot = (uri: string) => [{ Image: { Snapshots: [{ Format: 'jpg', Interval: 1, URI: uri }] } }];
const SOURCES = [{ URI: 'oss://test-bucket/video-demo/Winemaking.mov' }];

async function waitTask(taskId: string): Promise<Json> {
  for (;;) {
    const info = await callImm(client, 'GetTask', { ProjectName: 'sdk-project', TaskId: taskId, TaskType: 'MediaConvert' });
    if (info.Status !== 'Running') return info;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('@alicloud/openapi-client, ACS3-HMAC-SHA256', () => {
  it('CreateProject, CreateMediaConvertTask (parameters in the query) and GetTask, signed', async () => {
    const created = await callImm(client, 'CreateProject', { ProjectName: 'sdk-project', Description: 'made by the SDK' });
    expect(created.Project).toMatchObject({ ProjectName: 'sdk-project', Description: 'made by the SDK' });
    expect(created.RequestId).toMatch(/^[0-9A-F]{24}$/);

    const task = await callImm(client, 'CreateMediaConvertTask', {
      ProjectName: 'sdk-project',
      Notification: { MNS: { TopicName: 'test-mns-topic' } },
      Sources: SOURCES,
      Targets: snapshot('oss://test-bucket/sdk/query-{index}.{autoext}'),
      UserData: '{"from": "query"}',
    });
    expect(task.TaskId).toMatch(/^MediaConvert-/);
    const info = await waitTask(task.TaskId);
    expect(info).toMatchObject({ Status: 'Succeeded', Progress: 100, UserData: '{"from": "query"}', EventId: task.EventId });
    expect(info.Outputs.map((o: Json) => o.URI).sort()).toEqual([1, 2, 3, 4].map((i) => `oss://test-bucket/sdk/query-${i}.jpg`));
    const image = Buffer.from(await (await server.get('test-bucket/sdk/query-3.jpg')).arrayBuffer());
    expect(await readFrameIndex(image)).toBe(50);
  });

  it('CreateMediaConvertTask with Sources and Targets in the form body (JSON strings), the rest in the query', async () => {
    const task = await callImm(
      client,
      'CreateMediaConvertTask',
      { ProjectName: 'sdk-project', UserData: 'body form' },
      { body: { Sources: SOURCES, Targets: snapshot('oss://test-bucket/sdk/body-{index}.jpg') } },
    );
    const info = await waitTask(task.TaskId);
    expect(info).toMatchObject({ Status: 'Succeeded', UserData: 'body form' });
    expect(info.Outputs).toHaveLength(4);
    const definition = await callImm(client, 'GetTask', { ProjectName: 'sdk-project', TaskId: task.TaskId, TaskType: 'MediaConvert', RequestDefinition: true });
    expect(JSON.parse(definition.TaskRequestDefinition)).toMatchObject({ Sources: SOURCES });
  });

  it('a JSON body (reqBodyType json) and a GET are signed and accepted too', async () => {
    const json = await callImm(client, 'ListProjects', {}, { body: { Prefix: 'sdk' }, params: { reqBodyType: 'json' } });
    expect(json.Projects.map((p: Json) => p.ProjectName)).toEqual(['sdk-project']);
    const get = await callImm(client, 'GetProject', { ProjectName: 'sdk-project' }, { params: { method: 'GET' } });
    expect(get.Project.ProjectName).toBe('sdk-project');
  });

  it('surfaces IMM errors as SDK errors with Code and Message', async () => {
    const err = await error(callImm(client, 'GetTask', { ProjectName: 'sdk-project', TaskId: 'MediaConvert-none', TaskType: 'MediaConvert' }));
    expect(err).toMatchObject({ code: 'ResourceNotFound', data: { statusCode: 404, Message: 'TaskId: the task "MediaConvert-none" does not exist in project "sdk-project".' } });
    const invalid = await error(callImm(client, 'CreateMediaConvertTask', { ProjectName: 'sdk-project', Sources: SOURCES, Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Mode: 'bogus', URI: 'oss://test-bucket/x-{index}.jpg' }] } }] }));
    expect(invalid).toMatchObject({ code: 'InvalidArgument', data: { Message: 'Expected one of interval, average, keyframe, dhash for Targets[0].Image.Snapshots[0].Mode but received "bogus".' } });
  });

  it('refuses a wrong secret and an unknown AccessKeyId', async () => {
    expect(await error(callImm(immClient(server.url, KEY_ID, 'not-the-secret'), 'ListProjects', {}))).toMatchObject({ code: 'SignatureDoesNotMatch', data: { statusCode: 403 } });
    expect(await error(callImm(immClient(server.url, 'nobody', 'x'), 'ListProjects', {}))).toMatchObject({ code: 'InvalidAccessKeyId.NotFound' });
  });

  it('accepts a nonce once — shared with the v1 signature of the same key', async () => {
    const headers = { 'x-acs-signature-nonce': 'sdk-fixed-nonce' };
    expect((await callImm(client, 'ListProjects', {}, { headers })).Projects).toBeDefined();
    expect(await error(callImm(client, 'ListProjects', {}, { headers }))).toMatchObject({ code: 'SignatureNonceUsed', data: { statusCode: 403 } });
    // The same nonce under another key is another nonce.
    expect((await callImm(immClient(server.url, LIMITED, LIMITED_SECRET), 'ListProjects', {}, { headers })).Projects).toBeDefined();
    // A v1 request reusing the nonce of an ACS3 request is a replay too.
    const form: Record<string, string> = { Action: 'ListProjects', Version: '2020-09-30', AccessKeyId: KEY_ID, SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0', SignatureNonce: 'sdk-fixed-nonce', Timestamp: stamp() };
    form.Signature = rpcSignature(SECRET, 'POST', form);
    const v1 = await fetch(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    expect([v1.status, ((await v1.json()) as Json).Code]).toEqual([403, 'SignatureNonceUsed']);
  });

  it('bounds the clock skew of x-acs-date to 15 minutes, as Timestamp for v1', async () => {
    expect((await callImm(client, 'ListProjects', {}, { headers: { 'x-acs-date': stamp(-14 * 60_000) } })).Projects).toBeDefined();
    expect((await callImm(client, 'ListProjects', {}, { headers: { 'x-acs-date': stamp(14 * 60_000) } })).Projects).toBeDefined();
    for (const offset of [-16 * 60_000, 16 * 60_000, -86_400_000]) {
      expect(await error(callImm(client, 'ListProjects', {}, { headers: { 'x-acs-date': stamp(offset) } }))).toMatchObject({ code: 'InvalidTimeStamp.Expired' });
    }
    expect(await error(callImm(client, 'ListProjects', {}, { headers: { 'x-acs-date': 'Mon, 01 Jan 2024 00:00:00 GMT' } }))).toMatchObject({ code: 'InvalidTimeStamp.Expired' });
  });

  it('refuses any change to a signed request: body, query, action, an unsigned x-acs-* header, a weaker header list', async () => {
    const base = () => acs3Request(server.url, KEY_ID, SECRET, { action: 'GetProject', query: { ProjectName: 'sdk-project' }, form: { Description: 'x' } });
    expect((await send(server.url, base())).status).toBe(200);

    const body = base();
    body.body = body.body.replace('x', 'y');
    expect(await send(server.url, body)).toMatchObject({ status: 403, body: { Code: 'SignatureDoesNotMatch', Message: 'x-acs-content-sha256 does not match the SHA-256 of the request body.' } });
    const query = base();
    query.path = query.path.replace('sdk-project', 'other-project');
    expect(await send(server.url, query)).toMatchObject({ status: 403, body: { Code: 'SignatureDoesNotMatch' } });
    const action = base();
    action.headers['x-acs-action'] = 'DeleteProject';
    expect(await send(server.url, action)).toMatchObject({ status: 403, body: { Code: 'SignatureDoesNotMatch' } });
    const extra = base();
    extra.headers['x-acs-extra'] = 'smuggled';
    expect(await send(server.url, extra)).toMatchObject({ status: 403, body: { Code: 'IncompleteSignature', Message: 'The header x-acs-extra must be present and signed (SignedHeaders).' } });
    // A client that leaves x-acs-action out of SignedHeaders (signature recomputed over fewer headers).
    const weaker = base();
    weaker.headers.Authorization = weaker.headers.Authorization!.replace('x-acs-action;', '');
    expect(await send(server.url, weaker)).toMatchObject({ status: 403, body: { Code: 'IncompleteSignature' } });
    const both = base();
    both.path += '&Signature=abc';
    expect(await send(server.url, both)).toMatchObject({ status: 403, body: { Code: 'IncompleteSignature' } });
    const sm3 = base();
    sm3.headers.Authorization = sm3.headers.Authorization!.replace('ACS3-HMAC-SHA256', 'ACS3-HMAC-SM3');
    expect(await send(server.url, sm3)).toMatchObject({ status: 403, body: { Code: 'InvalidSignatureMethod' } });
    // An Action parameter that contradicts the signed header.
    const contradiction = acs3Request(server.url, KEY_ID, SECRET, { action: 'GetProject', query: { ProjectName: 'sdk-project', Action: 'DeleteProject' } });
    expect(await send(server.url, contradiction)).toMatchObject({ status: 400, body: { Code: 'InvalidArgument' } });
  });

  it('applies STILLFRAME_KEY_BUCKETS to the signing key exactly as for the v1 signature', async () => {
    const limited = immClient(server.url, LIMITED, LIMITED_SECRET);
    const pop = new RPCClient({ accessKeyId: LIMITED, accessKeySecret: LIMITED_SECRET, endpoint: server.url, apiVersion: '2020-09-30' });
    const request = { ProjectName: 'sdk-project', Sources: SOURCES, Targets: snapshot('oss://test-bucket/limited/{index}.jpg') };
    const viaAcs3 = await error(callImm(limited, 'CreateMediaConvertTask', request));
    const viaV1 = await pop
      .request('CreateMediaConvertTask', { ProjectName: 'sdk-project', Sources: JSON.stringify(request.Sources), Targets: JSON.stringify(request.Targets) }, { method: 'POST' })
      .then(() => undefined, (e: unknown) => e as { code: string; data: Json });
    expect(viaAcs3).toMatchObject({ code: 'AccessDenied', data: { statusCode: 403, Message: 'Targets[0].Image.Snapshots[0].URI: the AccessKeyId may not write bucket "test-bucket".' } });
    expect(viaV1).toMatchObject({ code: 'AccessDenied', data: { Message: viaAcs3!.data.Message } });
    // Allowed bucket: accepted. Another key's task: answered as missing, by either signature.
    const ok = await callImm(limited, 'CreateMediaConvertTask', { ...request, Targets: snapshot('oss://other-bucket/limited/{index}.jpg') });
    expect(ok.TaskId).toMatch(/^MediaConvert-/);
    const listed = await callImm(client, 'ListTasks', { ProjectName: 'sdk-project', MaxResults: 100 });
    const foreign = listed.Tasks.find((t: Json) => t.TaskId !== ok.TaskId).TaskId as string;
    expect(await error(callImm(limited, 'GetTask', { ProjectName: 'sdk-project', TaskId: foreign, TaskType: 'MediaConvert' }))).toMatchObject({ code: 'ResourceNotFound' });
    const v1Foreign = await pop.request('GetTask', { ProjectName: 'sdk-project', TaskId: foreign, TaskType: 'MediaConvert' }, { method: 'POST' }).catch((e: unknown) => e);
    expect(v1Foreign).toMatchObject({ code: 'ResourceNotFound' });
    expect(await error(callImm(limited, 'DeleteProject', { ProjectName: 'sdk-project' }))).toMatchObject({ code: 'AccessDenied' });
    expect((await waitTask(ok.TaskId)).Status).toBe('Succeeded');
  });
});
