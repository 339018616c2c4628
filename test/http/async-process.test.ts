// OSS asynchronous processing over HTTP: `POST /{bucket}/{key}?x-oss-async-process` signed by the
// official ali-oss client, answered with {RequestId, EventId, TaskId}; the IMM task it becomes runs in
// the bucket's project (GetTask, ListTasks signed with pop-core), writes the right frames and notifies
// the topic's webhook. Refusals: unsigned, a key that may not write the target, malformed bodies, a GET.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import RPCClient from '@alicloud/pop-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, frameAt, readFrameIndex } from '../support/fixtures.js';
import type { Json } from '../support/json.js';
import { ossClient, type SignedRequester } from '../support/oss-client.js';
import { startServer, type TestServer } from '../support/server.js';

const AK = 'LTAI-async-key';
const SECRET = 'async-secret-0123456789';
const LIMITED = 'LTAI-limited';
const LIMITED_SECRET = 'limited-secret-0123456789';

let server: TestServer;
let receiver: Server;
const received: { path: string; body: string }[] = [];
let imm: RPCClient;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 4 });
  server = await startServer({
    objects: { 'media/clip.mp4': video, 'pub/clip.mp4': video, 'thumbs/.keep': Buffer.alloc(0) },
    env: {
      STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET},${LIMITED}:${LIMITED_SECRET}`,
      STILLFRAME_KEY_BUCKETS: `${LIMITED}:media`,
      STILLFRAME_BUCKET_ACL: 'pub:public-read',
      STILLFRAME_WEBHOOKS: `async-topic=${hook}`,
      STILLFRAME_MAX_BODY_BYTES: '4096',
    },
    // ali-oss's V1 signing refuses IP endpoints.
    hostname: 'localhost',
  });
  imm = new RPCClient({ accessKeyId: AK, accessKeySecret: SECRET, endpoint: server.url, apiVersion: '2020-09-30' });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');

interface Answer {
  status: number;
  code?: string;
  message?: string;
  json?: Json;
  requestId?: string;
}

/** A signed POST ?x-oss-async-process through ali-oss; errors as their status and OSS code. */
async function submit(object: string, process: string, options: { bucket?: string; key?: [string, string]; v4?: boolean; body?: string } = {}): Promise<Answer> {
  const [ak, secret] = options.key ?? [AK, SECRET];
  const bucket = options.bucket ?? 'media';
  const oss = ossClient(server.url, { ak, secret }, bucket, { v4: options.v4 }) as unknown as SignedRequester;
  try {
    const res = (await oss.request({
      method: 'POST',
      bucket,
      object,
      subres: 'x-oss-async-process',
      content: options.body ?? new URLSearchParams({ 'x-oss-async-process': process }).toString(),
      mime: 'application/x-www-form-urlencoded',
      successStatuses: [200],
    })) as { status: number; data?: Buffer; res: { status: number; headers: Record<string, string> } };
    return { status: res.res.status, json: JSON.parse(String(res.data)) as Json, requestId: res.res.headers['x-oss-request-id'] };
  } catch (err) {
    const e = err as { status: number; code: string; message: string };
    return { status: e.status, code: e.code, message: e.message };
  }
}

const GET_TASK = { method: 'POST' };
async function getTask(project: string, taskId: string, definition = false): Promise<Json> {
  return imm.request<Json>('GetTask', { ProjectName: project, TaskId: taskId, TaskType: 'MediaConvert', RequestDefinition: definition }, GET_TASK);
}

/** Polls a signed GetTask until the task has ended. */
async function waitTask(project: string, taskId: string): Promise<Json> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const task = await getTask(project, taskId, true);
    if (task.Status !== 'Running') return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still running`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function until(check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readObject(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await server.deps.store.read(bucket, key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('video/snapshots end to end', () => {
  it('→ {RequestId, EventId, TaskId}; the task runs in the bucket\'s project, writes the frames asked for, and notifies', async () => {
    received.length = 0;
    const process = `video/snapshots,ss_1000,f_png,num_3,inter_500,w_160,h_90|sys/saveas,o_${b64('frames/s')},b_${b64('thumbs')}/notify,topic_${b64('async-topic')}`;
    const answer = await submit('clip.mp4', process);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json!).sort()).toEqual(['EventId', 'RequestId', 'TaskId']);
    expect(answer.json!.RequestId).toBe(answer.requestId);
    expect(answer.json!.TaskId).toMatch(/^MediaConvert-/);
    const taskId = answer.json!.TaskId as string;

    const task = await waitTask('media', taskId);
    expect(task).toMatchObject({ ProjectName: 'media', TaskId: taskId, EventId: answer.json!.EventId, TaskType: 'MediaConvert', Status: 'Succeeded' });
    const uris = (task.Outputs as Json[]).map((o) => o.URI);
    expect(uris).toEqual(['oss://thumbs/frames/s_1.png', 'oss://thumbs/frames/s_2.png', 'oss://thumbs/frames/s_3.png']);
    const frames = await Promise.all([1, 2, 3].map(async (i) => readFrameIndex(await readObject('thumbs', `frames/s_${i}.png`))));
    expect(frames).toEqual([frameAt(1000), frameAt(1500), frameAt(2000)]);
    // The IMM request it became, as GetTask echoes it.
    const definition = JSON.parse(task.TaskRequestDefinition as string);
    expect(definition).toMatchObject({
      ProjectName: 'media',
      Sources: [{ URI: 'oss://media/clip.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'png', URI: 'oss://thumbs/frames/s_{index}.{autoext}', StartTime: 1, Interval: 0.5, Number: 3, Width: 160, Height: 90 }] } }],
    });

    const listed = await imm.request<Json>('ListTasks', { ProjectName: 'media' }, GET_TASK);
    expect((listed.Tasks as Json[]).map((t) => t.TaskId)).toContain(taskId);

    await until(() => received.some((r) => r.body.includes(taskId)));
    const message = JSON.parse(received.find((r) => r.body.includes(taskId))!.body);
    expect(message).toMatchObject({ source: 'acs.imm', type: 'imm:Task:MediaConvert' });
    expect(JSON.parse(message.content)).toMatchObject({ ProjectName: 'media', TaskId: taskId, Status: 'Succeeded', Outputs: task.Outputs });
  });

  it('V4-signed, URL-safe unpadded base64, no b (the source bucket), one named frame, no notify', async () => {
    const answer = await submit('clip.mp4', `video/snapshots,ss_2000,f_jpg,num_1|sys/saveas,o_${b64url('stills/two.jpg')}`, { v4: true });
    expect(answer.status).toBe(200);
    const task = await waitTask('media', answer.json!.TaskId as string);
    expect(task).toMatchObject({ Status: 'Succeeded', Outputs: [{ URI: 'oss://media/stills/two.jpg' }] });
    expect(await readFrameIndex(await readObject('media', 'stills/two.jpg'))).toBe(frameAt(2000));
  });

  it('a public-read source still needs a signed request; signed, its project is created on first use', async () => {
    const body = `x-oss-async-process=${encodeURIComponent(`video/snapshots,f_jpg,num_1|sys/saveas,o_${b64url('p.jpg')},b_${b64url('thumbs')}`)}`;
    const unsigned = await fetch(`${server.url}/pub/clip.mp4?x-oss-async-process`, { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>AccessDenied</Code>');
    const signed = await submit('clip.mp4', `video/snapshots,f_jpg,num_1|sys/saveas,o_${b64url('p.jpg')},b_${b64url('thumbs')}`, { bucket: 'pub' });
    expect(signed.status).toBe(200);
    expect(await waitTask('pub', signed.json!.TaskId as string)).toMatchObject({ ProjectName: 'pub', Status: 'Succeeded' });
  });
});

describe('refusals', () => {
  it('a key that may read the source but not write the target: 403', async () => {
    const answer = await submit('clip.mp4', `video/snapshots,f_jpg,num_1|sys/saveas,o_${b64url('x.jpg')},b_${b64url('thumbs')}`, { key: [LIMITED, LIMITED_SECRET] });
    expect(answer).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(answer.message).toMatch(/may not write bucket "thumbs"/);
    // Its own bucket it may write.
    expect(await submit('clip.mp4', `video/snapshots,f_jpg,num_1|sys/saveas,o_${b64url('own.jpg')}`, { key: [LIMITED, LIMITED_SECRET] })).toMatchObject({ status: 200 });
  });

  it.each([
    ['no sys/saveas', 'video/snapshots,f_jpg,num_1', /has no sys\/saveas/],
    ['an unknown action', `video/gif,f_gif|sys/saveas,o_${b64url('x')}`, /Unknown x-oss-async-process action "video\/gif"/],
    ['a bad parameter', `video/snapshots,f_jpg,w_10|sys/saveas,o_${b64url('x')}`, /for video\/snapshots w but received "10"/],
    ['several frames to one named object', `video/snapshots,f_jpg,num_2|sys/saveas,o_${b64url('x.jpg')}`, /has an extension/],
  ])('%s: 400 InvalidArgument', async (_name, process, message) => {
    const answer = await submit('clip.mp4', process);
    expect(answer).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(answer.message).toMatch(message);
  });

  it('a missing source: 404 NoSuchKey, and no task', async () => {
    expect(await submit('nope.mp4', `video/snapshots,f_jpg,num_1|sys/saveas,o_${b64url('x.jpg')}`)).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('a body over STILLFRAME_MAX_BODY_BYTES: 413', async () => {
    const answer = await submit('clip.mp4', '', { body: `x-oss-async-process=${'a'.repeat(5000)}` });
    expect(answer).toMatchObject({ status: 413, code: 'EntityTooLarge' });
  });

  it('GET or HEAD with x-oss-async-process: 400; with x-oss-process too on a POST: 400', async () => {
    const get = await fetch(`${server.url}/pub/clip.mp4?x-oss-async-process=video/snapshots,f_jpg`);
    expect(get.status).toBe(400);
    expect(await get.text()).toContain('only allowed as POST');
    expect((await fetch(`${server.url}/pub/clip.mp4?x-oss-async-process`, { method: 'HEAD' })).status).toBe(400);
    const oss = ossClient(server.url, { ak: AK, secret: SECRET }, 'media') as unknown as SignedRequester;
    const both = await oss
      .request({ method: 'POST', bucket: 'media', object: 'clip.mp4', subres: { 'x-oss-process': '', 'x-oss-async-process': '' }, content: 'x', mime: 'application/x-www-form-urlencoded', successStatuses: [200] })
      .catch((e: { status: number }) => e);
    expect(both.status).toBe(400);
  });
});

describe('video/sprite and video/animation end to end', () => {
  it('video/sprite: numbered sheets (o without an extension), each tile the right frame, IMM\'s Pad and Margin', async () => {
    const answer = await submit('clip.mp4', `video/sprite,f_jpg,sw_100,sh_100,inter_500,tw_2,th_2|sys/saveas,o_${b64url('sprites/s')}`);
    expect(answer.status).toBe(200);
    const task = await waitTask('media', answer.json!.TaskId as string);
    expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
    const outputs = (task.Outputs as Json[]).slice().sort((a, b) => (a.Index as number) - (b.Index as number));
    expect(outputs.map((o) => [o.URI, o.Width, o.Height])).toEqual([
      ['oss://media/sprites/s_1.jpg', 206, 206],
      ['oss://media/sprites/s_2.jpg', 206, 206],
    ]);
    const tiles: number[] = [];
    for (const sheet of [1, 2]) {
      const body = await readObject('media', `sprites/s_${sheet}.jpg`);
      for (let i = 0; i < 4; i++) {
        const tile = await sharp(body).extract({ left: 2 + (i % 2) * 102, top: 2 + Math.floor(i / 2) * 102, width: 100, height: 100 }).png().toBuffer();
        tiles.push(await readFrameIndex(tile));
      }
    }
    expect(tiles).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000, 3500].map((ms) => frameAt(ms)));
  });

  it('video/animation: one GIF at fps, each frame the right one', async () => {
    const answer = await submit('clip.mp4', `video/animation,f_gif,w_160,h_120,inter_1000,fps_2|sys/saveas,o_${b64url('anim/a.gif')}`);
    expect(answer.status).toBe(200);
    const task = await waitTask('media', answer.json!.TaskId as string);
    expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
    expect((task.Outputs as Json[]).map((o) => o.URI)).toEqual(['oss://media/anim/a.gif']);
    const body = await readObject('media', 'anim/a.gif');
    const meta = await sharp(body).metadata();
    expect([meta.format, meta.pages, meta.width, meta.pageHeight ?? meta.height]).toEqual(['gif', 4, 160, 120]);
    expect(meta.delay).toEqual([500, 500, 500, 500]);
    const frames = await Promise.all([0, 1, 2, 3].map(async (page) => readFrameIndex(await sharp(body, { page }).png().toBuffer())));
    expect(frames).toEqual([0, 1000, 2000, 3000].map((ms) => frameAt(ms)));
  });
});
