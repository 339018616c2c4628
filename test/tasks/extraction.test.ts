// Several frames from one source are one worker job that decodes no more than it must: dense intervals
// decode on through the groups of pictures they need, sparse ones jump from keyframe to keyframe,
// keyframe mode decodes key frames only — and every path returns exactly the frames asked for, across
// containers, B-frames and non-key targets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex, type FixtureSpec } from '../support/fixtures.js';
import { snapshotRequest, startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const FPS = 25;
const MP4: FixtureSpec = { container: 'mp4', codec: 'h264', fps: FPS, seconds: 20, gop: 25, bframes: 2 };
// Big enough frames that decoding a whole GOP costs more than opening an input: sparse seeks win.
const LONG: FixtureSpec = { container: 'mp4', codec: 'h264', fps: FPS, seconds: 40, gop: 25, width: 640, height: 360 };
const TS: FixtureSpec = { container: 'ts', codec: 'h264', fps: FPS, seconds: 20, gop: 25, bframes: 2 };
const MKV: FixtureSpec = { container: 'mkv', codec: 'h264', fps: FPS, seconds: 20, gop: 25 };

/** Frames task extractions were asked for, and frames the workers decoded to get them. */
async function counters(server: TestServer) {
  const text = await (await fetch(`${server.url}/_/metrics`)).text();
  const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  return {
    wanted: read(/stillframe_task_frames_total\{counted="wanted"\} (\d+)/),
    decoded: read(/stillframe_task_frames_total\{counted="decoded"\} (\d+)/),
    extracts: read(/stillframe_worker_jobs_total\{kind="extract",outcome="ok"\} (\d+)/),
  };
}

async function indices(server: TestServer, task: Json): Promise<number[]> {
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  const list = [...(task.Outputs as { URI: string; Index: number }[])].sort((a, b) => a.Index - b.Index);
  return Promise.all(list.map(async (o) => readFrameIndex(Buffer.from(await (await server.get(o.URI.slice(6))).arrayBuffer()))));
}

let seq = 0;
const request = (object: string, snapshot: Record<string, unknown>) =>
  snapshotRequest(`oss://media/${object}`, { Format: 'jpg', URI: `oss://media/out/${++seq}/{index}.jpg`, ...snapshot });

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('decoding only what a task needs', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ objects: { 'media/v.mp4': await fixture(MP4), 'media/long.mp4': await fixture(LONG) } });
    await server.call('CreateProject', { ProjectName: 'test-project' });
  });
  afterAll(() => server?.close());

  it('dense interval: one job, one continuous decode of the frames in range', async () => {
    const before = await counters(server);
    const task = await server.run(request('v.mp4', { Interval: 0.2, Number: 40 }));
    expect(await indices(server, task)).toEqual(range(40, (i) => i * 5));
    const after = await counters(server);
    expect(after.extracts - before.extracts).toBe(1);
    expect(after.wanted - before.wanted).toBe(40);
    // Frames 0–195 (and the decoder's look-ahead), non-reference ones that are not wanted skipped.
    expect(after.decoded - before.decoded).toBeLessThanOrEqual(200);
  });

  it('an Interval shorter than a frame: every frame once from StartTime (no frame twice)', async () => {
    const task = await server.run(request('v.mp4', { StartTime: 1.01, Interval: 0.01, Number: 12 }));
    expect(await indices(server, task)).toEqual(range(12, (i) => 26 + i));
  });

  it('sparse interval (Interval ≫ GOP): a jump per frame, not a full decode', async () => {
    const before = await counters(server);
    const task = await server.run(request('long.mp4', { Interval: 10 }));
    expect(await indices(server, task)).toEqual([0, 250, 500, 750]);
    const after = await counters(server);
    expect(after.extracts - before.extracts).toBe(1);
    // Each wanted frame is a keyframe: decoded from itself, plus the few the decoder looks ahead.
    expect(after.decoded - before.decoded).toBeLessThanOrEqual(4 * 6);
  });

  it('sparse non-key targets between B-frames come out exact', async () => {
    const task = await server.run(request('v.mp4', { StartTime: 0.53, Interval: 4.37 }));
    // The frame shown at t is the last one presented at or before t.
    expect(await indices(server, task)).toEqual(range(5, (i) => Math.floor((0.53 + i * 4.37) * FPS + 1e-9)));
  });

  it('keyframe mode decodes key frames only', async () => {
    const before = await counters(server);
    const task = await server.run(request('v.mp4', { Mode: 'keyframe' }));
    expect(await indices(server, task)).toEqual(range(20, (i) => i * 25));
    const after = await counters(server);
    expect(after.extracts - before.extracts).toBe(1);
    expect(after.decoded - before.decoded).toBe(20);
  });
});

describe('the same frames in every container', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      objects: { 'media/v.mp4': await fixture(MP4), 'media/v.ts': await fixture(TS), 'media/v.mkv': await fixture(MKV) },
    });
    await server.call('CreateProject', { ProjectName: 'test-project' });
  });
  afterAll(() => server?.close());

  it.each(['v.mp4', 'v.ts', 'v.mkv'])('%s', async (object) => {
    const dense = await server.run(request(object, { StartTime: 3.3, Interval: 0.36, Number: 12 }));
    expect(await indices(server, dense)).toEqual(range(12, (i) => Math.floor((3.3 + i * 0.36) * FPS + 1e-9)));
    const sparse = await server.run(request(object, { StartTime: 1.02, Interval: 6.1 }));
    expect(await indices(server, sparse)).toEqual([1.02, 7.12, 13.22, 19.32].map((t) => Math.floor(t * FPS + 1e-9)));
    const keys = await server.run(request(object, { Mode: 'keyframe', StartTime: 10, Number: 3 }));
    expect(await indices(server, keys)).toEqual([250, 275, 300]);
  });
});
