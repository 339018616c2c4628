// The RPC API over HTTP: projects, task listing, the IMM error body, invalid requests rejected before
// anything is accepted or written, failures found at run time, clipping and multi-source tasks.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioFixture, fixture, readFrameIndex } from '../support/fixtures.js';
import { listObjects, snapshotRequest, startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const VIDEO = { container: 'mp4', codec: 'h264', fps: 25, seconds: 4, gop: 25 } as const;

let server: TestServer;

beforeAll(async () => {
  const video = await fixture(VIDEO);
  server = await startServer({
    env: { STILLFRAME_MAX_FRAMES_PER_TASK: '30' },
    objects: {
      'media/clip.mp4': video,
      'media/other.mp4': video,
      'media/silent.mp3': await audioFixture({ cover: false }),
      'out/.keep': Buffer.alloc(0),
    },
  });
  expect((await server.call('CreateProject', { ProjectName: 'test-project', Description: 'tests' })).status).toBe(200);
});

afterAll(() => server?.close());

async function frameIndices(task: Json): Promise<number[]> {
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  const list = [...(task.Outputs as { URI: string; Index: number }[])].sort((a, b) => a.Index - b.Index);
  return Promise.all(list.map(async (o) => readFrameIndex(Buffer.from(await (await server.get(o.URI.slice(6))).arrayBuffer()))));
}

describe('projects', () => {
  it('creates, refuses a duplicate, gets, lists with paging and deletes', async () => {
    const created = await server.call('CreateProject', { ProjectName: 'p-one', Tags: { env: 'test' } });
    expect(created.status).toBe(200);
    expect(created.body.Project).toMatchObject({ ProjectName: 'p-one', Tags: { env: 'test' } });
    const again = await server.call('CreateProject', { ProjectName: 'p-one' });
    expect([again.status, again.body.Code, again.body.Message]).toEqual([409, 'ResourceAlreadyExists', 'ProjectName: the project "p-one" already exists.']);
    await server.call('CreateProject', { ProjectName: 'p-two' });
    expect((await server.form('GetProject', { ProjectName: 'p-two' })).body.Project.ProjectName).toBe('p-two');

    const first = await server.form('ListProjects', { Prefix: 'p-', MaxResults: 1 });
    expect(first.body.Projects.map((p: Json) => p.ProjectName)).toEqual(['p-one']);
    const second = await server.form('ListProjects', { Prefix: 'p-', MaxResults: 1, NextToken: first.body.NextToken });
    expect(second.body.Projects.map((p: Json) => p.ProjectName)).toEqual(['p-two']);
    expect(second.body.NextToken).toBe('');

    expect((await server.call('DeleteProject', { ProjectName: 'p-two' })).status).toBe(200);
    const gone = await server.call('GetProject', { ProjectName: 'p-two' });
    expect([gone.status, gone.body.Code]).toEqual([404, 'ResourceNotFound']);
  });
});

describe('the RPC transport', () => {
  it('answers errors with the IMM JSON body', async () => {
    const res = await fetch(`${server.url}/?Action=Frobnicate&Version=2020-09-30`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as Json;
    expect(Object.keys(body).sort()).toEqual(['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
    expect(body).toMatchObject({ Code: 'InvalidAction.NotFound', Recommend: '' });
    expect(body.Message).toMatch(/^The Action "Frobnicate" is not supported: expected one of CreateProject, /);
  });

  it('requires an Action and the 2020-09-30 Version', async () => {
    const missing = await fetch(`${server.url}/`, { method: 'POST' });
    expect([missing.status, ((await missing.json()) as Json).Code]).toEqual([400, 'MissingAction']);
    const wrong = await fetch(`${server.url}/?Action=ListProjects&Version=2017-09-06`);
    expect([wrong.status, ((await wrong.json()) as Json).Code]).toEqual([400, 'InvalidVersion']);
  });

  it('leaves GET / without an Action to the object routes', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.headers.get('content-type')).toMatch(/xml/);
  });
});

describe('invalid requests are rejected with nothing accepted or written', () => {
  const S = 'Targets[0].Image.Snapshots[0]';
  const cases: [string, Record<string, unknown>, number, string, string][] = [
    ['bad Mode', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Mode: 'scene', URI: 'oss://out/{index}.jpg' }), 400, 'InvalidArgument', `Expected one of interval, average, keyframe, dhash for ${S}.Mode but received "scene".`],
    ['bad ScaleType', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', ScaleType: 'pad', URI: 'oss://out/{index}.jpg' }), 400, 'InvalidArgument', `Expected one of stretch, crop, fill, fit for ${S}.ScaleType but received "pad".`],
    ['bad Format', snapshotRequest('oss://media/clip.mp4', { Format: 'bmp', URI: 'oss://out/{index}.jpg' }), 400, 'InvalidArgument', `Expected one of jpg, png, webp for ${S}.Format but received "bmp".`],
    ['Width 0', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Width: 0, URI: 'oss://out/{index}.jpg' }), 400, 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${S}.Width but received 0.`],
    ['Width > 4096', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Width: 5000, URI: 'oss://out/{index}.jpg' }), 400, 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${S}.Width but received 5000.`],
    ['no {index}', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Interval: 1, URI: 'oss://out/frame.jpg' }), 400, 'InvalidArgument', `${S}.URI must contain {index}: this snapshot can produce several frames (Number is 0 = until the end), which would overwrite each other.`],
    ['unknown project', { ...snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Number: 1, URI: 'oss://out/a.jpg' }), ProjectName: 'nope' }, 404, 'ResourceNotFound', 'ProjectName: the project "nope" does not exist.'],
    ['missing source', snapshotRequest('oss://media/missing.mp4', { Format: 'jpg', Number: 1, URI: 'oss://out/a.jpg' }), 404, 'ResourceNotFound', 'Sources[0].URI: oss://media/missing.mp4 does not exist.'],
    ['missing source bucket', snapshotRequest('oss://nobucket/clip.mp4', { Format: 'jpg', Number: 1, URI: 'oss://out/a.jpg' }), 404, 'ResourceNotFound', 'Sources[0].URI: oss://nobucket/clip.mp4 does not exist.'],
    ['missing output bucket', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Number: 1, URI: 'oss://no-such-out/a.jpg' }), 404, 'ResourceNotFound', `${S}.URI: the bucket "no-such-out" does not exist.`],
    ['missing Targets', { ProjectName: 'test-project', Sources: [{ URI: 'oss://media/clip.mp4' }] }, 400, 'MissingTargets', 'The parameter Targets is required.'],
  ];

  it.each(cases)('%s', async (_name, request, status, code, message) => {
    const before = await listObjects(server.root);
    for (const send of [server.call, server.form]) {
      const res = await send('CreateMediaConvertTask', request);
      expect([res.status, res.body.Code, res.body.Message]).toEqual([status, code, message]);
      expect(res.body.TaskId).toBeUndefined();
    }
    expect(await listObjects(server.root)).toEqual(before);
  });

  it('journaled none of them', async () => {
    const journal = await readFile(join(server.root, '.stillframe', 'journal.jsonl'), 'utf8');
    expect(journal).not.toMatch(/missing\.mp4|no-such-out|"scene"|frame\.jpg/);
  });
});

describe('tasks', () => {
  it('clips to Sources[].StartTime/Duration', async () => {
    const interval = await server.run({
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/clip.mp4', StartTime: 1, Duration: 2 }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Interval: 0.5, URI: 'oss://out/clip/{index}.jpg' }] } }],
    });
    expect(await frameIndices(interval)).toEqual([25, 37, 50, 62]);
    const average = await server.run({
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/clip.mp4', StartTime: 2 }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Mode: 'average', Number: 4, StartTime: 0.4, URI: 'oss://out/avg/{index}.jpg' }] } }],
    });
    // [2.4 s, 4 s) in 4 even steps.
    expect(await frameIndices(average)).toEqual([60, 70, 80, 90]);
  });

  it('runs several sources and snapshot specs in one task, naming outputs by source', async () => {
    const task = await server.run({
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/clip.mp4' }, { URI: 'oss://media/other.mp4' }],
      Targets: [
        { Image: { Snapshots: [{ Format: 'jpg', StartTime: 1, Number: 1, URI: 'oss://out/multi/{barename}-first.jpg' }] } },
        { Image: { Snapshots: [{ Format: 'png', Mode: 'keyframe', URI: 'oss://out/multi/{barename}-key-{index}.{autoext}' }] } },
      ],
    });
    expect(task.Status).toBe('Succeeded');
    expect(task.Outputs.map((o: Json) => o.URI).sort()).toEqual(
      ['clip', 'other'].flatMap((n) => [`oss://out/multi/${n}-first.jpg`, ...[1, 2, 3, 4].map((i) => `oss://out/multi/${n}-key-${i}.png`)]).sort(),
    );
  });

  it('fails an audio file without a cover picture with a clear Code/Message', async () => {
    const task = await server.run(snapshotRequest('oss://media/silent.mp3', { Format: 'jpg', Number: 1, URI: 'oss://out/silent.jpg' }));
    expect([task.Status, task.Code, task.Message]).toEqual(['Failed', 'InvalidArgument', 'The object has no video stream and no embedded cover picture.']);
    expect(task.Outputs).toEqual([]);
  });

  it('fails a StartTime past the end, and a task above the frame cap, before writing anything', async () => {
    const late = await server.run(snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', StartTime: 9, Number: 1, URI: 'oss://out/late.jpg' }));
    expect([late.Status, late.Code, late.Message]).toEqual(['Failed', 'InvalidArgument', 'Targets[0].Image.Snapshots[0].StartTime 9 s is at or past the end of the video (4.000 s).']);
    const before = await listObjects(server.root);
    const big = await server.run(snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Interval: 0.1, URI: 'oss://out/big/{index}.jpg' }));
    expect([big.Status, big.Code]).toEqual(['Failed', 'LimitExceededError']);
    expect(big.Message).toBe('The task would capture 40 frames, above the limit of 30 frames per task: set Number, a larger Interval or a shorter Sources[].Duration.');
    expect(await listObjects(server.root)).toEqual(before);
  });

  it('GetTask shows the request definition on demand; ListTasks filters, sorts and pages', async () => {
    const created = await server.call('CreateMediaConvertTask', snapshotRequest('oss://media/clip.mp4', { Format: 'jpg', Number: 1, URI: 'oss://out/def.jpg' }, { UserData: 'u-1', Tags: { kind: 'def' } }));
    const done = await server.wait(created.body.TaskId);
    expect(done).toMatchObject({ Status: 'Succeeded', Progress: 100, UserData: 'u-1', Tags: { kind: 'def' }, EventId: created.body.EventId });
    expect(done.TaskRequestDefinition).toBeUndefined();
    for (const field of ['StartTime', 'EndTime']) expect(Date.parse(done[field])).toBeGreaterThan(0);
    const withDefinition = await server.form('GetTask', { ProjectName: 'test-project', TaskId: created.body.TaskId, TaskType: 'MediaConvert', RequestDefinition: 'true' });
    expect(JSON.parse(withDefinition.body.TaskRequestDefinition)).toMatchObject({ UserData: 'u-1', Sources: [{ URI: 'oss://media/clip.mp4' }] });

    const tagged = await server.form('ListTasks', { ProjectName: 'test-project', TagSelector: 'kind=def' });
    expect(tagged.body.Tasks.map((t: Json) => t.TaskId)).toEqual([created.body.TaskId]);
    const failed = await server.form('ListTasks', { ProjectName: 'test-project', Status: 'Failed' });
    expect(failed.body.Tasks.length).toBeGreaterThanOrEqual(3);
    expect(failed.body.Tasks.every((t: Json) => t.Status === 'Failed')).toBe(true);
    const all = (await server.form('ListTasks', { ProjectName: 'test-project', Sort: 'CreateTime', Order: 'asc' })).body.Tasks.map((t: Json) => t.CreateTime);
    expect(all).toEqual([...all].sort());
    const page1 = await server.form('ListTasks', { ProjectName: 'test-project', MaxResults: 2 });
    const page2 = await server.form('ListTasks', { ProjectName: 'test-project', MaxResults: 2, NextToken: page1.body.NextToken });
    expect(page1.body.Tasks).toHaveLength(2);
    expect(page2.body.Tasks[0].TaskId).not.toBe(page1.body.Tasks[1].TaskId);
    const unknown = await server.form('GetTask', { ProjectName: 'test-project', TaskId: 'MediaConvert-nope', TaskType: 'MediaConvert' });
    expect([unknown.status, unknown.body.Code]).toEqual([404, 'ResourceNotFound']);
  });
});
