// Hostile media the other suites do not already cover (see SECURITY.md for the full list): a stream of
// 8192×4320 under the default pixel limit, a file whose header claims > 12 h, concat lists and playlists
// naming local files or other hosts, and a webhook topic that is a URL. Each → a clear 4xx in time, with
// no capture left running; a webhook never goes anywhere not configured.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, hugeFrameFixture, lateStartFixture } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let receiver: Server;
let received = 0;

beforeAll(async () => {
  // One black 8192×4320 frame at the lowest quality: ~100 KB, generated in well under a second.
  const huge = await hugeFrameFixture();
  // One second of video whose timestamps start at 50000 s: the container says it lasts 13.9 hours.
  const long = await lateStartFixture();
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 2 });
  receiver = createServer((_req, res) => {
    received++;
    res.end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer({
    objects: {
      'media/huge.mp4': huge,
      'media/long.mkv': long,
      'media/v.mp4': video,
      'media/concat.mp4': Buffer.from(`ffconcat version 1.0\nfile '${video}'\nfile '/etc/passwd'\n`),
      'media/concat.txt': Buffer.from(`ffconcat version 1.0\nfile 'v.mp4'\n`),
      'media/remote.m3u8': Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${hook}/seg.ts\n#EXT-X-ENDLIST\n`),
      'media/proto.mp4': Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nconcat:/etc/passwd|/etc/hostname\n#EXT-X-ENDLIST\n'),
      'media/sub.mp4': Buffer.from('1\n00:00:00,000 --> 00:00:01,000\nhello\n'),
    },
    // Only "known" is configured; nothing else may ever be called.
    env: { STILLFRAME_WEBHOOKS: `known=${hook}/known`, STILLFRAME_WEBHOOK_RETRIES: '0' },
  });
  await server.call('CreateProject', { ProjectName: 'test-project' });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await new Promise((r) => receiver?.close(r));
});

async function snapshot(object: string) {
  const started = Date.now();
  const res = await fetch(`${server.url}/${object}?x-oss-process=video/snapshot,t_500,w_64`);
  const text = await res.text();
  return { status: res.status, code: /<Code>(.*)<\/Code>/.exec(text)?.[1], message: /<Message>(.*)<\/Message>/.exec(text)?.[1] ?? '', ms: Date.now() - started };
}

describe('hostile media (default limits)', () => {
  it('8192×4320 is refused by the pixel limit before any decoding', async () => {
    const e = await snapshot('media/huge.mp4');
    expect(e).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(e.message).toContain('8192x4320');
  });

  it('a container that claims 13.9 hours is refused by the duration limit', async () => {
    const e = await snapshot('media/long.mkv');
    expect(e).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(e.message).toMatch(/lasts 500\d\d s, above the limit of 43200 s/);
  });

  it.each([
    ['media/concat.mp4', 'an ffconcat list naming a local file'],
    ['media/concat.txt', 'an ffconcat list named .txt'],
    ['media/remote.m3u8', 'a playlist naming another host'],
    ['media/proto.mp4', 'a playlist naming the concat: protocol'],
    ['media/sub.mp4', 'a subtitle file named .mp4'],
  ])('%s (%s) → 400 within the deadline, nothing fetched', async (object) => {
    const e = await snapshot(object);
    expect(e.status).toBe(400);
    expect(e.code).toBe('InvalidArgument');
    expect(e.message.length).toBeGreaterThan(10);
    expect(e.ms).toBeLessThan(10_000);
    expect(received).toBe(0);
  });

  it('as task sources, the same files fail their task with a clear message', async () => {
    for (const [object, pattern] of [['media/huge.mp4', /8192x4320/], ['media/long.mkv', /43200/], ['media/concat.mp4', /./]] as const) {
      const task = await server.run({
        ProjectName: 'test-project',
        Sources: [{ URI: `oss://${object}` }],
        Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 1, URI: `oss://media/out/${object.split('/')[1]}.jpg` }] } }],
      });
      expect(task.Status, object).toBe('Failed');
      expect(task.Message, object).toMatch(pattern);
      expect(task.Outputs).toEqual([]);
    }
  });

  it("no capture is left running and no worker died: hostile input is the input's fault, answered 400", async () => {
    await server.deps.tasks.idle();
    expect(server.deps.pool.busy).toBe(0);
    const metrics = await (await fetch(`${server.url}/_/metrics`)).text();
    expect(metrics).not.toMatch(/stillframe_worker_restarts_total\{reason="crash"\} [1-9]/);
  });
});

describe('webhooks', () => {
  it('a topic that is not configured — even one spelled as a URL — calls nothing', async () => {
    for (const topic of [`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/evil`, 'unknown']) {
      const task = await server.run({
        ProjectName: 'test-project',
        Notification: { MNS: { TopicName: topic } },
        Sources: [{ URI: 'oss://media/v.mp4' }],
        Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 1, URI: `oss://media/hook/${topic.length}.jpg` }] } }],
      });
      expect(task.Status).toBe('Succeeded');
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toBe(0);
    // The configured one is called (the receiver works).
    await server.run({
      ProjectName: 'test-project',
      Notification: { MNS: { TopicName: 'known' } },
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 1, URI: 'oss://media/hook/known.jpg' }] } }],
    });
    for (let i = 0; i < 50 && received === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(1);
  });
});
