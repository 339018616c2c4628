// Completion notifications to a real local HTTP receiver: the IMM envelope, the HMAC signature, retries
// with backoff after a failure, and a delivery that never succeeds is logged, not fatal.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../support/fixtures.js';
import { snapshotRequest, startServer, type TestServer } from '../support/server.js';

interface Received {
  at: number;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const SECRET = 'webhook-secret';
let receiver: Server;
let received: Received[] = [];
/** Status codes to answer, in turn; 200 once exhausted. */
let answers: number[] = [];
let server: TestServer;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body });
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer({
    env: {
      STILLFRAME_WEBHOOKS: `test-mns-topic=${base}/hook,flaky-topic=${base}/flaky`,
      STILLFRAME_WEBHOOK_SECRET: SECRET,
      STILLFRAME_WEBHOOK_RETRIES: '3',
      STILLFRAME_WEBHOOK_BACKOFF_MS: '50',
    },
    objects: { 'media/v.mp4': await fixture({ container: 'mp4', codec: 'h264', seconds: 2 }) },
  });
  await server.call('CreateProject', { ProjectName: 'test-project' });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function until(check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const notification = (topic: string) => ({ Notification: { MNS: { TopicName: topic } }, UserData: '{"job": 42}' });

describe('webhook notifications', () => {
  it('POSTs the signed IMM envelope, retrying after a failure', async () => {
    received = [];
    answers = [503];
    const task = await server.run(snapshotRequest('oss://media/v.mp4', { Format: 'jpg', Number: 1, URI: 'oss://media/hook/a.jpg' }, notification('test-mns-topic')));
    expect(task.Status).toBe('Succeeded');
    await until(() => received.length === 2);
    const [first, second] = received as [Received, Received];
    expect(second.body).toBe(first.body);
    // The first retry waits between half and all of STILLFRAME_WEBHOOK_BACKOFF_MS (equal jitter).
    expect(second.at - first.at).toBeGreaterThanOrEqual(20);
    expect(first.path).toBe('/hook');
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['x-stillframe-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(first.body).digest('hex')}`);

    const message = JSON.parse(first.body);
    expect(Object.keys(message).sort()).toEqual(['content', 'id', 'source', 'subject', 'time', 'type']);
    expect(message).toMatchObject({ source: 'acs.imm', type: 'imm:Task:MediaConvert' });
    expect(Math.abs(Number(message.time) - Date.now())).toBeLessThan(60_000);
    const content = JSON.parse(message.content);
    expect(content).toMatchObject({
      ProjectName: 'test-project',
      TaskId: task.TaskId,
      TaskType: 'MediaConvert',
      Status: 'Succeeded',
      Code: '',
      Message: '',
      UserData: '{"job": 42}',
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 1, URI: 'oss://media/hook/a.jpg' }] } }],
    });
    expect(content.StartTime).toBe(task.StartTime);
    expect(content.EndTime).toBe(task.EndTime);
  });

  it('notifies failed tasks too', async () => {
    received = [];
    answers = [];
    const task = await server.run(snapshotRequest('oss://media/v.mp4', { Format: 'jpg', StartTime: 60, Number: 1, URI: 'oss://media/hook/late.jpg' }, notification('test-mns-topic')));
    expect(task.Status).toBe('Failed');
    await until(() => received.length === 1);
    expect(JSON.parse(JSON.parse(received[0]!.body).content)).toMatchObject({ TaskId: task.TaskId, Status: 'Failed', Code: 'InvalidArgument' });
  });

  it('gives up after the retries without failing anything; unknown topics are skipped', async () => {
    received = [];
    answers = [500, 500, 500, 500, 500];
    const task = await server.run(snapshotRequest('oss://media/v.mp4', { Format: 'jpg', Number: 1, URI: 'oss://media/hook/b.jpg' }, notification('flaky-topic')));
    expect(task.Status).toBe('Succeeded');
    await until(() => received.length === 4);
    // Backoff doubles, jittered: [25, 50], [50, 100], [100, 200] ms.
    const gaps = received.slice(1).map((r, i) => r.at - received[i]!.at);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(4);

    received = [];
    const quiet = await server.run(snapshotRequest('oss://media/v.mp4', { Format: 'jpg', Number: 1, URI: 'oss://media/hook/c.jpg' }, notification('not-configured')));
    expect(quiet.Status).toBe('Succeeded');
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([]);
  });
});
