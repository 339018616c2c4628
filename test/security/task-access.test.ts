// IMM tasks under access keys (signed with @alicloud/pop-core): a task may only read buckets the signing
// key may read (public-read or allowed) and write buckets it may write (allowed by STILLFRAME_KEY_BUCKETS).
import RPCClient from '@alicloud/pop-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

let server: TestServer;
const clients: Record<string, RPCClient> = {};
const POST = { method: 'POST' };

beforeAll(async () => {
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 2 });
  server = await startServer({
    env: {
      STILLFRAME_ACCESS_KEYS: 'admin:admin-secret,limited:limited-secret',
      STILLFRAME_KEY_BUCKETS: 'limited:inbox|outbox',
      STILLFRAME_BUCKET_ACL: 'pub:public-read',
    },
    objects: { 'secret/v.mp4': video, 'pub/v.mp4': video, 'inbox/v.mp4': video, 'outbox/.keep': Buffer.alloc(0), 'secret/.keep': Buffer.alloc(0) },
  });
  for (const [id, secret] of [['admin', 'admin-secret'], ['limited', 'limited-secret']]) {
    clients[id!] = new RPCClient({ accessKeyId: id!, accessKeySecret: secret!, endpoint: server.url, apiVersion: '2020-09-30' });
  }
  await clients.admin!.request('CreateProject', { ProjectName: 'p' }, POST);
});
afterAll(() => server?.close());

const submit = (who: string, source: string, output: string, image: Record<string, unknown> = { Snapshots: [{ Format: 'jpg', Number: 1, URI: output }] }) =>
  clients[who]!.request<Json>(
    'CreateMediaConvertTask',
    {
      ProjectName: 'p',
      Sources: JSON.stringify([{ URI: source }]),
      Targets: JSON.stringify([{ Image: image }]),
    },
    POST,
  ).catch((e: Json) => e);

describe('task bucket authorization', () => {
  it('a restricted key cannot read a private bucket', async () => {
    const err = await submit('limited', 'oss://secret/v.mp4', 'oss://outbox/a.jpg');
    expect(err).toMatchObject({ code: 'AccessDenied', data: { Message: 'Sources[0].URI: the AccessKeyId may not read bucket "secret".' } });
  });

  it('sprite sheets and animations are outputs too: a restricted key cannot write them outside its buckets', async () => {
    const sprite = await submit('limited', 'oss://inbox/v.mp4', '', { Sprites: [{ Format: 'jpg', Number: 4, URI: 'oss://secret/sheet.jpg' }] });
    expect(sprite).toMatchObject({ code: 'AccessDenied' });
    expect(sprite.data.Message).toMatch(/Sprites\[0\]\.URI: the AccessKeyId may not write bucket "secret"/);
    const animation = await submit('limited', 'oss://inbox/v.mp4', '', { Animations: [{ Format: 'gif', Number: 4, URI: 'oss://secret/a.gif' }] });
    expect(animation).toMatchObject({ code: 'AccessDenied' });
    expect(animation.data.Message).toMatch(/Animations\[0\]\.URI: the AccessKeyId may not write bucket "secret"/);
  });

  it('a restricted key cannot write outside its buckets, even from a source it may read', async () => {
    const err = await submit('limited', 'oss://inbox/v.mp4', 'oss://secret/stolen.jpg');
    expect(err).toMatchObject({ code: 'AccessDenied' });
    expect(err.data.Message).toMatch(/may not write bucket "secret"/);
    // Nor into a public-read bucket (public means readable, not writable).
    expect(await submit('limited', 'oss://inbox/v.mp4', 'oss://pub/x.jpg')).toMatchObject({ code: 'AccessDenied' });
    // A bucket named by a template variable is checked as rendered.
    expect(await submit('limited', 'oss://inbox/v.mp4', 'oss://{tags.b}/x.jpg')).toMatchObject({ code: expect.stringMatching(/AccessDenied|InvalidArgument/) });
  });

  it('a restricted key may read public-read and its own buckets and write its own', async () => {
    const fromPublic = await submit('limited', 'oss://pub/v.mp4', 'oss://outbox/from-pub.jpg');
    expect(fromPublic.TaskId).toMatch(/^MediaConvert-/);
    const own = await submit('limited', 'oss://inbox/v.mp4', 'oss://outbox/own.jpg');
    expect(own.TaskId).toMatch(/^MediaConvert-/);
    let info: Json;
    do {
      await new Promise((r) => setTimeout(r, 50));
      info = await clients.limited!.request<Json>('GetTask', { ProjectName: 'p', TaskId: own.TaskId, TaskType: 'MediaConvert' }, POST);
    } while (info.Status === 'Running');
    expect(info.Status).toBe('Succeeded');
    expect(info.Outputs.map((o: Json) => o.URI)).toEqual(['oss://outbox/own.jpg']);
  });

  it('an unrestricted key may use every bucket', async () => {
    const ok = await submit('admin', 'oss://secret/v.mp4', 'oss://secret/cover.jpg');
    expect(ok.TaskId).toMatch(/^MediaConvert-/);
  });

  it("a restricted key sees only tasks it could have submitted, and may not delete projects", async () => {
    const own = await submit('limited', 'oss://inbox/v.mp4', 'oss://outbox/mine.jpg');
    const other = await submit('admin', 'oss://secret/v.mp4', 'oss://secret/theirs.jpg');
    const get = (who: string, id: string) =>
      clients[who]!.request<Json>('GetTask', { ProjectName: 'p', TaskId: id, TaskType: 'MediaConvert' }, POST).catch((e: Json) => e);
    expect((await get('limited', own.TaskId)).TaskId).toBe(own.TaskId);
    // Another key's task reads exactly like a missing one.
    const hidden = await get('limited', other.TaskId);
    const missing = await get('limited', 'MediaConvert-00000000-0000-0000-0000-000000000000');
    expect(hidden).toMatchObject({ code: 'ResourceNotFound' });
    expect(hidden.data.Message.replace(other.TaskId, 'X')).toBe(missing.data.Message.replace('MediaConvert-00000000-0000-0000-0000-000000000000', 'X'));
    expect((await get('admin', other.TaskId)).TaskId).toBe(other.TaskId);
    expect((await get('admin', own.TaskId)).TaskId).toBe(own.TaskId);

    const list = async (who: string) =>
      ((await clients[who]!.request<Json>('ListTasks', { ProjectName: 'p', MaxResults: 100 }, POST)).Tasks as Json[]).map((t) => t.TaskId as string);
    const limitedSees = await list('limited');
    expect(limitedSees).toContain(own.TaskId);
    expect(limitedSees).not.toContain(other.TaskId);
    expect(await list('admin')).toEqual(expect.arrayContaining([own.TaskId, other.TaskId]));

    const del = await clients.limited!.request<Json>('DeleteProject', { ProjectName: 'p' }, POST).catch((e: Json) => e);
    expect(del).toMatchObject({ code: 'AccessDenied' });
    expect((await clients.admin!.request<Json>('GetProject', { ProjectName: 'p' }, POST)).Project.ProjectName).toBe('p');
  });

  it('nothing was written by the refused tasks', async () => {
    await server.deps.tasks.idle();
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${server.root}/secret/stolen.jpg`)).toBe(false);
    expect(existsSync(`${server.root}/pub/x.jpg`)).toBe(false);
    expect(existsSync(`${server.root}/outbox/a.jpg`)).toBe(false);
  });
});
