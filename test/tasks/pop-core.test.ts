// Round trip through the official Alibaba Cloud RPC client, @alicloud/pop-core, with the server's URL as
// the endpoint and request signing on: projects, a sample task, GetTask polling, ListTasks, errors.
import RPCClient from '@alicloud/pop-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpcSignature } from '../../src/http/imm-auth.js';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const KEY_ID = 'stillframe-test';
const SECRET = 'test-secret-0123456789';

let server: TestServer;
let client: RPCClient;

beforeAll(async () => {
  server = await startServer({
    // test-bucket is public-read: the outputs are read back anonymously below.
    env: { STILLFRAME_ACCESS_KEYS: `${KEY_ID}:${SECRET},other:other-secret`, STILLFRAME_BUCKET_ACL: 'test-bucket:public-read' },
    objects: { 'test-bucket/video-demo/Winemaking.mov': await fixture({ container: 'mov', codec: 'h264', seconds: 4 }) },
  });
  client = new RPCClient({ accessKeyId: KEY_ID, accessKeySecret: SECRET, endpoint: server.url, apiVersion: '2020-09-30' });
});

afterAll(() => server?.close());

const POST = { method: 'POST' };

describe('@alicloud/pop-core RPCClient', () => {
  it('creates a project, runs a sample task and reads it back, signed, over POST and GET', async () => {
    const created = await client.request<Json>('CreateProject', { ProjectName: 'test-project' }, POST);
    expect(created.Project.ProjectName).toBe('test-project');
    expect(typeof created.RequestId).toBe('string');

    const task = await client.request<Json>(
      'CreateMediaConvertTask',
      {
        ProjectName: 'test-project',
        Notification: JSON.stringify({ MNS: { TopicName: 'test-mns-topic' } }),
        Sources: JSON.stringify([{ URI: 'oss://test-bucket/video-demo/Winemaking.mov' }]),
        Targets: JSON.stringify([{ Image: { Snapshots: [{ Format: 'jpg', Interval: 1, URI: 'oss://test-bucket/video-demo/snapshot-{index}.{autoext}' }] } }]),
      },
      POST,
    );
    expect(task.TaskId).toMatch(/^MediaConvert-/);
    expect(typeof task.EventId).toBe('string');

    let info: Json;
    for (;;) {
      // GET: pop-core puts every parameter, the signature included, in the query string.
      info = await client.request<Json>('GetTask', { ProjectName: 'test-project', TaskId: task.TaskId, TaskType: 'MediaConvert' });
      if (info.Status !== 'Running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(info).toMatchObject({ Status: 'Succeeded', Progress: 100, ProjectName: 'test-project', TaskType: 'MediaConvert', EventId: task.EventId });
    expect(info.Outputs.map((o: Json) => o.URI).sort()).toEqual([1, 2, 3, 4].map((i) => `oss://test-bucket/video-demo/snapshot-${i}.jpg`));
    const image = Buffer.from(await (await server.get('test-bucket/video-demo/snapshot-3.jpg')).arrayBuffer());
    expect(await readFrameIndex(image)).toBe(50);

    const listed = await client.request<Json>('ListTasks', { ProjectName: 'test-project', TaskTypes: JSON.stringify(['MediaConvert']), Status: 'Succeeded' }, POST);
    expect(listed.Tasks.map((t: Json) => t.TaskId)).toEqual([task.TaskId]);
    const projects = await client.request<Json>('ListProjects', {}, POST);
    expect(projects.Projects.map((p: Json) => p.ProjectName)).toEqual(['test-project']);
  });

  it('surfaces IMM errors as pop-core errors with Code and Message', async () => {
    const err = await client.request('GetTask', { ProjectName: 'test-project', TaskId: 'MediaConvert-none', TaskType: 'MediaConvert' }, POST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ResourceNotFound', data: { Code: 'ResourceNotFound', Message: 'TaskId: the task "MediaConvert-none" does not exist in project "test-project".' } });
    const invalid = await client
      .request('CreateMediaConvertTask', { ProjectName: 'test-project', Sources: '[{"URI":"oss://test-bucket/video-demo/Winemaking.mov"}]', Targets: '[{"Image":{"Snapshots":[{"Format":"jpg","Mode":"bogus","URI":"oss://test-bucket/x-{index}.jpg"}]}}]' }, POST)
      .catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'InvalidArgument', data: { Message: 'Expected one of interval, average, keyframe, dhash for Targets[0].Image.Snapshots[0].Mode but received "bogus".' } });
  });

  it('rejects a wrong secret, unsigned requests, replayed nonces and stale timestamps with 403', async () => {
    const wrong = new RPCClient({ accessKeyId: KEY_ID, accessKeySecret: 'not-the-secret', endpoint: server.url, apiVersion: '2020-09-30' });
    expect(await wrong.request('ListProjects', {}, POST).catch((e: unknown) => e)).toMatchObject({ code: 'SignatureDoesNotMatch' });
    const unknown = new RPCClient({ accessKeyId: 'who', accessKeySecret: 'x', endpoint: server.url, apiVersion: '2020-09-30' });
    expect(await unknown.request('ListProjects', {}, POST).catch((e: unknown) => e)).toMatchObject({ code: 'InvalidAccessKeyId.NotFound' });

    const unsigned = await fetch(`${server.url}/?Action=ListProjects&Version=2020-09-30`);
    expect([unsigned.status, ((await unsigned.json()) as Json).Code]).toEqual([403, 'MissingAccessKeyId']);
    const json = await fetch(`${server.url}/?Action=ListProjects`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([json.status, ((await json.json()) as Json).Code]).toEqual([403, 'InvalidParameter.Signature']);

    const signed = (timestamp: string, nonce: string) => {
      const form: Record<string, string> = {
        Action: 'ListProjects', Version: '2020-09-30', Format: 'JSON', AccessKeyId: KEY_ID, SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0', SignatureNonce: nonce, Timestamp: timestamp,
      };
      form.Signature = rpcSignature(SECRET, 'POST', form);
      return fetch(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    };
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    expect((await signed(now, 'nonce-1')).status).toBe(200);
    const replay = await signed(now, 'nonce-1');
    expect([replay.status, ((await replay.json()) as Json).Code]).toEqual([403, 'SignatureNonceUsed']);
    const stale = await signed(new Date(Date.now() - 20 * 60_000).toISOString(), 'nonce-2');
    expect([stale.status, ((await stale.json()) as Json).Code]).toEqual([403, 'InvalidTimeStamp.Expired']);
  });
});
