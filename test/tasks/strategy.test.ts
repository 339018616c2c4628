// Several frames from one source must not cost one ffmpeg per frame: dense intervals and keyframe mode
// take one decoding pass, sparse intervals one multi-seek run. Both paths (forced, too) must return
// exactly the frames asked for, across containers, B-frames and non-key targets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex, type FixtureSpec } from '../support/fixtures.js';
import { snapshotRequest, startTaskServer, type TaskServer } from './helpers.js';

const FPS = 25;
const MP4: FixtureSpec = { container: 'mp4', codec: 'h264', fps: FPS, seconds: 20, gop: 25, bframes: 2 };
// Big enough frames that decoding a whole GOP costs more than opening an input: sparse seeks win.
const LONG: FixtureSpec = { container: 'mp4', codec: 'h264', fps: FPS, seconds: 40, gop: 25, width: 640, height: 360 };
const TS: FixtureSpec = { container: 'ts', codec: 'h264', fps: FPS, seconds: 20, gop: 25, bframes: 2 };
const MKV: FixtureSpec = { container: 'mkv', codec: 'h264', fps: FPS, seconds: 20, gop: 25 };

async function counters(server: TaskServer) {
  const text = await (await fetch(`${server.url}/_/metrics`)).text();
  const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  return {
    ffmpeg: read(/stillframe_ffmpeg_spawns_total\{tool="ffmpeg"\} (\d+)/),
    pass: read(/stillframe_task_frames_total\{path="pass"\} (\d+)/),
    seek: read(/stillframe_task_frames_total\{path="seek"\} (\d+)/),
    fallback: read(/stillframe_task_frames_total\{path="fallback"\} (\d+)/),
  };
}

async function indices(server: TaskServer, task: Record<string, any>): Promise<number[]> {
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  const list = [...(task.Outputs as { URI: string; Index: number }[])].sort((a, b) => a.Index - b.Index);
  return Promise.all(list.map(async (o) => readFrameIndex(Buffer.from(await (await server.get(o.URI.slice(6))).arrayBuffer()))));
}

let seq = 0;
const request = (object: string, snapshot: Record<string, unknown>) =>
  snapshotRequest(`oss://media/${object}`, { Format: 'jpg', URI: `oss://media/out/${++seq}/{index}.jpg`, ...snapshot });

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('choosing a single pass or sparse seeks', () => {
  let server: TaskServer;
  beforeAll(async () => {
    server = await startTaskServer({ objects: { 'media/v.mp4': await fixture(MP4), 'media/long.mp4': await fixture(LONG) } });
    await server.call('CreateProject', { ProjectName: 'test-project' });
    // Warm-up: the first task measures the ffmpeg start cost once.
    await server.run(request('v.mp4', { Number: 1 }));
  });
  afterAll(() => server?.close());

  it('dense interval: one ffmpeg pass for all frames', async () => {
    const before = await counters(server);
    const task = await server.run(request('v.mp4', { Interval: 0.2, Number: 40 }));
    expect(await indices(server, task)).toEqual(range(40, (i) => i * 5));
    const after = await counters(server);
    expect(after.ffmpeg - before.ffmpeg).toBe(1);
    expect(after.pass - before.pass).toBe(40);
    expect(after.fallback).toBe(0);
  });

  it('sparse interval (Interval ≫ GOP): one multi-seek ffmpeg, not a full decode', async () => {
    const before = await counters(server);
    const task = await server.run(request('long.mp4', { Interval: 10 }));
    expect(await indices(server, task)).toEqual([0, 250, 500, 750]);
    const after = await counters(server);
    expect(after.ffmpeg - before.ffmpeg).toBe(1);
    expect(after.seek - before.seek).toBe(4);
    expect(after.fallback).toBe(0);
  });

  it('sparse non-key targets between B-frames come out exact', async () => {
    const task = await server.run(request('v.mp4', { StartTime: 0.53, Interval: 4.37 }));
    // The frame shown at t is the last one presented at or before t.
    expect(await indices(server, task)).toEqual(range(5, (i) => Math.floor((0.53 + i * 4.37) * FPS + 1e-9)));
    expect((await counters(server)).fallback).toBe(0);
  });

  it('keyframe mode: one pass that decodes key frames only', async () => {
    const before = await counters(server);
    const task = await server.run(request('v.mp4', { Mode: 'keyframe' }));
    expect(await indices(server, task)).toEqual(range(20, (i) => i * 25));
    expect((await counters(server)).ffmpeg - before.ffmpeg).toBe(1);
  });
});

describe.each(['pass', 'seek'] as const)('forced %s strategy gives the same frames', (strategy) => {
  let server: TaskServer;
  beforeAll(async () => {
    server = await startTaskServer({
      env: { STILLFRAME_TASK_STRATEGY: strategy },
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
    expect((await counters(server)).fallback).toBe(0);
  });
});
