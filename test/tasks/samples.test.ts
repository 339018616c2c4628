// The spec's eight sample requests, as written, end to end over HTTP: outputs counted, named, sized,
// served by the URL API, and proven to be the right frames — the source videos carry their frame
// index in every picture, the scene-cut video its scene, the MP3 a coded cover.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COVER_INDEX,
  audioFixture,
  extractFrames,
  fixture,
  keyframeIndices,
  readFrameIndex,
  sceneCutFixture,
  type SceneCutFixture,
} from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const WINEMAKING = 'oss://test-bucket/video-demo/Winemaking.mov';
const SCENES = 'oss://test-bucket/video-demo/scenes.mp4';
const MP3 = 'oss://test-bucket/video-demo/test.mp3';
const FPS = 25;

// A 30 s portrait video (so a square crop keeps every code stripe), GOP 2 s, with B-frames.
const VIDEO = { container: 'mov', codec: 'h264', fps: FPS, seconds: 30, gop: 50, bframes: 2, width: 360, height: 640 } as const;

let server: TestServer;
let scenes: SceneCutFixture;
let videoPath: string;

beforeAll(async () => {
  videoPath = await fixture(VIDEO);
  scenes = await sceneCutFixture();
  server = await startServer({
    objects: {
      'test-bucket/video-demo/Winemaking.mov': videoPath,
      'test-bucket/video-demo/scenes.mp4': scenes.path,
      'test-bucket/video-demo/test.mp3': await audioFixture({ cover: true }),
    },
  });
  const created = await server.call('CreateProject', { ProjectName: 'test-project' });
  expect(created.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/** The sample body exactly as the spec shows it (project, notification, one source, one snapshot). */
function sample(source: string, snapshot: Record<string, unknown>) {
  return {
    ProjectName: 'test-project',
    Notification: { MNS: { TopicName: 'test-mns-topic' } },
    Sources: [{ URI: source }],
    Targets: [{ Image: { Snapshots: [snapshot] } }],
  };
}

async function fetchImage(uri: string): Promise<Buffer> {
  const res = await server.get(uri.slice('oss://'.length));
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Outputs in index order, each read back through the URL API. */
async function outputs(task: Json) {
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  expect(task.Progress).toBe(100);
  const list = [...(task.Outputs as { URI: string; Index: number; Width: number; Height: number; TimeMs: number }[])].sort((a, b) => a.Index - b.Index);
  return Promise.all(
    list.map(async (o) => {
      const body = await fetchImage(o.URI);
      const meta = await sharp(body).metadata();
      expect([meta.width, meta.height]).toEqual([o.Width, o.Height]);
      return { ...o, body, format: meta.format, name: o.URI.split('/').pop()! };
    }),
  );
}

const names = (n: number, ext: string) => Array.from({ length: n }, (_, i) => `snapshot-${i + 1}.${ext}`);

/** Mean absolute difference of two images' greyscale 32×32 thumbnails (0–255). */
async function distance(a: Buffer, b: Buffer): Promise<number> {
  const small = (img: Buffer) => sharp(img).greyscale().resize(32, 32, { fit: 'fill' }).raw().toBuffer();
  const [x, y] = await Promise.all([small(a), small(b)]);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i]! - y[i]!);
  return sum / x.length;
}

describe('the eight sample requests', () => {
  it('1. thumbnail: one frame at 5 s, at the source size', async () => {
    const [out, ...rest] = await outputs(await server.run(sample(WINEMAKING, { Format: 'jpg', StartTime: 5, Number: 1, URI: 'oss://test-bucket/video-demo/cover.jpg' })));
    expect(rest).toEqual([]);
    expect(out!.URI).toBe('oss://test-bucket/video-demo/cover.jpg');
    expect([out!.format, out!.Width, out!.Height]).toEqual(['jpeg', 360, 640]);
    expect(await readFrameIndex(out!.body)).toBe(5 * FPS);
  });

  it('2. every 10 s, 512×512 crop', async () => {
    const list = await outputs(
      await server.run(sample(WINEMAKING, { Format: 'jpg', Interval: 10, ScaleType: 'crop', URI: 'oss://test-bucket/video-demo/snapshot-{index}.{autoext}', Width: 512, Height: 512 })),
    );
    expect(list.map((o) => o.name)).toEqual(names(3, 'jpg'));
    for (const o of list) expect([o.format, o.Width, o.Height]).toEqual(['jpeg', 512, 512]);
    expect(await Promise.all(list.map((o) => readFrameIndex(o.body)))).toEqual([0, 250, 500]);
  });

  it('3. five frames from 11 s every 4 s at half size, PNG', async () => {
    const list = await outputs(
      await server.run(sample(WINEMAKING, { Format: 'png', StartTime: 11, Interval: 4, Number: 5, ScaleType: 'crop', URI: 'oss://test-bucket/video-demo/snapshot-{index}.{autoext}', Width: 0.5, Height: 0.5 })),
    );
    expect(list.map((o) => o.name)).toEqual(names(5, 'png'));
    for (const o of list) expect([o.format, o.Width, o.Height]).toEqual(['png', 180, 320]);
    expect(await Promise.all(list.map((o) => readFrameIndex(o.body)))).toEqual([11, 15, 19, 23, 27].map((s) => s * FPS));
  });

  it('4. event keyframes by dhash (Threshold 15): the scene cuts', async () => {
    const list = await outputs(
      await server.run(sample(SCENES, { Format: 'jpg', Interval: 1, Mode: 'dhash', Threshold: 15, URI: 'oss://test-bucket/video-demo/dhash-t/snapshot-{index}.{autoext}' })),
    );
    expect(list.map((o) => o.name)).toEqual(names(scenes.cutsAtSeconds.length, 'jpg'));
    expect(list.map((o) => o.TimeMs)).toEqual(scenes.cutsAtSeconds.map((s) => s * 1000));
    // Each output shows its scene: it matches the reference frame at the cut, not the scene before.
    const references = await extractFrames(scenes.path, scenes.cutFrames);
    for (const [i, o] of list.entries()) {
      expect(await distance(o.body, references[i]!)).toBeLessThan(8);
      if (i > 0) expect(await distance(o.body, references[i - 1]!)).toBeGreaterThan(20);
    }
  });

  it('5. the five most representative frames (dhash Number 5): the cuts first, then the earliest', async () => {
    const list = await outputs(
      await server.run(sample(SCENES, { Format: 'jpg', Interval: 1, Mode: 'dhash', Number: 5, URI: 'oss://test-bucket/video-demo/dhash-n/snapshot-{index}.{autoext}' })),
    );
    expect(list.map((o) => o.name)).toEqual(names(5, 'jpg'));
    // Four scenes: the four cuts have the largest changes; the fifth place is a tie at 0, won by the
    // earliest sample (1 s).
    expect(list.map((o) => o.TimeMs)).toEqual([0, 1000, 3000, 7000, 10000]);
  });

  it('6. all IDR frames: exactly the key frames', async () => {
    const list = await outputs(await server.run(sample(WINEMAKING, { Format: 'jpg', Mode: 'keyframe', URI: 'oss://test-bucket/video-demo/keyframes/snapshot-{index}.{autoext}' })));
    const keyframes = await keyframeIndices(videoPath);
    expect(keyframes).toEqual(Array.from({ length: 15 }, (_, i) => i * 50));
    expect(list.map((o) => o.name)).toEqual(names(keyframes.length, 'jpg'));
    expect(await Promise.all(list.map((o) => readFrameIndex(o.body)))).toEqual(keyframes);
  });

  it('7. ten frames at even intervals', async () => {
    const list = await outputs(await server.run(sample(WINEMAKING, { Format: 'jpg', Mode: 'average', Number: 10, URI: 'oss://test-bucket/video-demo/average/snapshot-{index}.{autoext}' })));
    expect(list.map((o) => o.name)).toEqual(names(10, 'jpg'));
    expect(await Promise.all(list.map((o) => readFrameIndex(o.body)))).toEqual(Array.from({ length: 10 }, (_, i) => i * 3 * FPS));
  });

  it('8. audio cover: the embedded picture of the MP3', async () => {
    const [out, ...rest] = await outputs(await server.run(sample(MP3, { Format: 'jpg', Number: 1, URI: 'oss://test-bucket/video-demo/cover-audio.jpg' })));
    expect(rest).toEqual([]);
    expect([out!.format, out!.Width, out!.Height]).toEqual(['jpeg', 200, 150]);
    expect(await readFrameIndex(out!.body)).toBe(COVER_INDEX);
  });

  it('sends every sample through the RPC form transport too (JSON-string parameters)', async () => {
    const created = await server.form('CreateMediaConvertTask', sample(WINEMAKING, { Format: 'webp', StartTime: 2, Number: 1, URI: 'oss://test-bucket/form/{barename}.{autoext}' }));
    expect(created.status).toBe(200);
    expect(created.body.TaskId).toMatch(/^MediaConvert-[0-9a-f-]{36}$/);
    const [out] = await outputs(await server.wait(created.body.TaskId));
    expect(out!.URI).toBe('oss://test-bucket/form/Winemaking.webp');
    expect(out!.format).toBe('webp');
    expect(await readFrameIndex(out!.body)).toBe(2 * FPS);
  });
});
