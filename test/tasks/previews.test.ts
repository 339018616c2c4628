// IMM Sprites and Animations end to end, on real capture workers and real sharp: every tile of every
// sheet and every frame of every animation is read back by the frame number the fixture draws into its
// pictures; sheet sizes follow TileWidth/TileHeight/Pad/Margin (a partial last sheet cut to its rows);
// several sheets are named by {index}; GIF and WebP carry the frame count and delays asked for; mistakes
// are refused at submit (400, naming the field), and layouts only the source can rule out fail the task.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { parseConvertTask } from '../../src/process/imm-request.js';
import { executeTask } from '../../src/tasks/execute.js';
import type { OutputRecord } from '../../src/tasks/records.js';
import { fixture, keyframeIndices, readFrameIndex, sceneCutFixture } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import type { Json } from '../support/json.js';

const FPS = 25;
// 20 s of 320×240, a keyframe every 2 s: tiles of 160×120 keep every code stripe readable.
const VIDEO = { container: 'mp4', codec: 'h264', fps: FPS, seconds: 20, gop: 50, width: 320, height: 240 } as const;

let server: TestServer;
let videoPath: string;

beforeAll(async () => {
  videoPath = await fixture(VIDEO);
  server = await startServer({ objects: { 'media/v.mp4': videoPath, 'media/scenes.mp4': (await sceneCutFixture()).path }, projects: ['test-project'] });
});

afterAll(async () => {
  await server?.close();
});

interface Output {
  URI: string;
  Index: number;
  SnapshotIndex?: number;
  SpriteIndex?: number;
  AnimationIndex?: number;
  TimeMs: number;
  Width: number;
  Height: number;
  Size: number;
  FramesMs?: number[];
}

const request = (image: Record<string, unknown>) => ({ ProjectName: 'test-project', Sources: [{ URI: 'oss://media/v.mp4' }], Targets: [{ Image: image }] });

async function succeeded(image: Record<string, unknown>): Promise<Output[]> {
  const task = await server.run(request(image));
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  expect(task.Progress).toBe(100);
  return (task.Outputs as Output[]).slice().sort((a, b) => a.URI.localeCompare(b.URI) || a.Index - b.Index);
}

async function body(uri: string): Promise<Buffer> {
  const res = await server.get(uri.slice('oss://'.length));
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** The frame number of every tile of a sheet, read from the tile cut out at its place. */
async function tileFrames(sheet: Buffer, layout: { columns: number; tileWidth: number; tileHeight: number; pad: number; margin: number }, tiles: number) {
  const frames: number[] = [];
  for (let i = 0; i < tiles; i++) {
    const left = layout.margin + (i % layout.columns) * (layout.tileWidth + layout.pad);
    const top = layout.margin + Math.floor(i / layout.columns) * (layout.tileHeight + layout.pad);
    frames.push(await readFrameIndex(await sharp(sheet).extract({ left, top, width: layout.tileWidth, height: layout.tileHeight }).png().toBuffer()));
  }
  return frames;
}

/** The frame number of every page of an animation. */
async function animationFrames(image: Buffer, pages: number) {
  return Promise.all(Array.from({ length: pages }, async (_, page) => readFrameIndex(await sharp(image, { page }).png().toBuffer())));
}

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const frameOf = (seconds: number) => Math.floor(seconds * FPS + 1e-9);

describe('Sprites', () => {
  it('interval: tiles row by row, Pad and Margin as asked, several sheets by {index}, the last cut to its rows', async () => {
    const layout = { columns: 3, rows: 2, tileWidth: 160, tileHeight: 120, pad: 4, margin: 6 };
    const outputs = await succeeded({
      Sprites: [{ Format: 'png', StartTime: 0.5, Interval: 1, Number: 8, ScaleWidth: 160, ScaleHeight: 120, TileWidth: 3, TileHeight: 2, Pad: 4, Margin: 6, URI: 'oss://media/sprite-a/sheet-{index}.{autoext}' }],
    });
    expect(outputs.map((o) => [o.URI, o.Index, o.SpriteIndex, o.Width, o.Height])).toEqual([
      ['oss://media/sprite-a/sheet-1.png', 1, 0, 2 * 6 + 3 * 160 + 2 * 4, 2 * 6 + 2 * 120 + 4],
      ['oss://media/sprite-a/sheet-2.png', 2, 0, 500, 2 * 6 + 120],
    ]);
    const expected = range(8, (k) => frameOf(0.5 + k));
    const [first, second] = await Promise.all(outputs.map((o) => body(o.URI)));
    const meta = await sharp(second!).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 500, 132]);
    expect(await tileFrames(first!, layout, 6)).toEqual(expected.slice(0, 6));
    expect(await tileFrames(second!, layout, 2)).toEqual(expected.slice(6));
    expect(outputs[0]!.FramesMs).toEqual(range(6, (k) => 500 + k * 1000).map((ms) => Math.round((frameOf(ms / 1000) * 1000) / FPS)));
    expect(outputs[1]!.TimeMs).toBe(6500 - 20);
    // The empty places of the last row are black.
    const { data, info } = await sharp(second!).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(data[(6 + 60) * info.width + 6 + 2 * 164 + 80]!).toBeLessThan(16);
  });

  it('defaults: 6×6 tiles of the source size (ScaleWidth/ScaleHeight 1), Pad 2, Margin 2, Number 0 = to the end', async () => {
    const outputs = await succeeded({ Sprites: [{ Format: 'jpg', Interval: 2, URI: 'oss://media/sprite-b/{index}.jpg' }] });
    expect(outputs.map((o) => [o.URI, o.Width, o.Height])).toEqual([['oss://media/sprite-b/1.jpg', 2 * 2 + 6 * 320 + 5 * 2, 2 * 2 + 2 * 240 + 2]]);
    const sheet = await body(outputs[0]!.URI);
    expect((await sharp(sheet).metadata()).format).toBe('jpeg');
    expect(await tileFrames(sheet, { columns: 6, tileWidth: 320, tileHeight: 240, pad: 2, margin: 2 }, 10)).toEqual(range(10, (k) => k * 50));
  });

  it('Mode keyframe: exactly the key frames, over two sheets', async () => {
    const keyframes = await keyframeIndices(videoPath);
    expect(keyframes).toEqual(range(10, (i) => i * 50));
    const layout = { columns: 4, rows: 2, tileWidth: 160, tileHeight: 120, pad: 2, margin: 2 };
    const outputs = await succeeded({
      Sprites: [{ Format: 'webp', Mode: 'keyframe', ScaleWidth: 0.5, ScaleHeight: 0.5, TileWidth: 4, TileHeight: 2, URI: 'oss://media/sprite-c/k-{index}.{autoext}' }],
    });
    expect(outputs.map((o) => o.URI)).toEqual(['oss://media/sprite-c/k-1.webp', 'oss://media/sprite-c/k-2.webp']);
    const [first, second] = await Promise.all(outputs.map((o) => body(o.URI)));
    expect(await tileFrames(first!, layout, 8)).toEqual(keyframes.slice(0, 8));
    expect(await tileFrames(second!, layout, 2)).toEqual(keyframes.slice(8));
    expect([outputs[1]!.Width, outputs[1]!.Height]).toEqual([2 * 2 + 4 * 160 + 3 * 2, 2 * 2 + 120]);
  });

  it('Mode average: Number tiles evenly over the video, one sheet, no {index} needed', async () => {
    const outputs = await succeeded({ Sprites: [{ Format: 'jpg', Mode: 'average', Number: 5, ScaleWidth: 160, ScaleHeight: 120, TileWidth: 5, TileHeight: 1, Pad: 0, Margin: 0, URI: 'oss://media/sprite-d/avg.jpg' }] });
    expect(outputs.map((o) => [o.URI, o.Width, o.Height])).toEqual([['oss://media/sprite-d/avg.jpg', 800, 120]]);
    const sheet = await body(outputs[0]!.URI);
    expect(await tileFrames(sheet, { columns: 5, tileWidth: 160, tileHeight: 120, pad: 0, margin: 0 }, 5)).toEqual(range(5, (k) => k * 4 * FPS));
  });

  it('Mode dhash: the tiles are the scene cuts, as the same spec gives as snapshots', async () => {
    const scenes = await sceneCutFixture();
    const spec = { Interval: 1, Mode: 'dhash', Threshold: 15 };
    const task = await server.run({
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/scenes.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://media/sprite-h/snap-{index}.jpg', ...spec }], Sprites: [{ Format: 'jpg', ScaleWidth: 64, URI: 'oss://media/sprite-h/sheet-{index}.jpg', ...spec }] } }],
    });
    expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
    const outputs = task.Outputs as Output[];
    const snapshots = outputs.filter((o) => o.SnapshotIndex === 0).sort((a, b) => a.Index - b.Index);
    const [sheet, ...more] = outputs.filter((o) => o.SpriteIndex === 0);
    expect(more).toEqual([]);
    expect(snapshots.map((o) => o.TimeMs)).toEqual(scenes.cutsAtSeconds.map((s) => s * 1000));
    expect(sheet!.FramesMs).toEqual(snapshots.map((o) => o.TimeMs));
  });

  it('a rerun after a crash writes only the sheets not yet recorded, under the same names, the same bytes', async () => {
    const definition = request({ Sprites: [{ Format: 'png', Interval: 1, Number: 5, ScaleWidth: 160, ScaleHeight: 120, TileWidth: 2, TileHeight: 1, URI: 'oss://media/sprite-g/{index}.png' }] });
    const first = await succeeded(definition.Targets[0]!.Image);
    expect(first.map((o) => o.URI)).toEqual(['oss://media/sprite-g/1.png', 'oss://media/sprite-g/2.png', 'oss://media/sprite-g/3.png']);
    const before = await Promise.all(first.map((o) => body(o.URI)));
    // The run that crashed had recorded sheet 1; the rerun is handed that record.
    const limits = { maxOutputDimension: 4096, maxFramesPerTask: 2000 };
    const written: OutputRecord[] = [];
    const progress: number[] = [];
    const { deps } = server;
    await executeTask(
      { store: deps.store, outputStore: deps.outputStore, capture: deps.capture, maxFramesPerTask: 2000, quality: { jpeg: 85, webp: 80, avif: 55 }, log: silentLogger },
      {
        taskId: 'rerun',
        request: parseConvertTask(definition, limits, new Date()),
        done: new Set(['oss://media/sprite-g/1.png']),
        signal: new AbortController().signal,
        onProgress: (percent) => progress.push(percent),
        onOutput: async (output) => {
          written.push(output);
        },
      },
    );
    expect(written.map((o) => [o.URI, o.Index, o.FramesMs])).toEqual([
      ['oss://media/sprite-g/2.png', 2, [2000, 3000]],
      ['oss://media/sprite-g/3.png', 3, [4000]],
    ]);
    expect(progress.at(-1)).toBe(99);
    const after = await Promise.all(first.map((o) => body(o.URI)));
    expect(after.map((b, i) => b.equals(before[i]!))).toEqual([true, true, true]);
    expect(await tileFrames(after[2]!, { columns: 2, tileWidth: 160, tileHeight: 120, pad: 2, margin: 2 }, 1)).toEqual([100]);
  });

  it('tiles too large for a 16384 px sheet: the default size shrinks to fit; an explicit size fails the task', async () => {
    const outputs = await succeeded({ Sprites: [{ Format: 'png', Number: 60, Interval: 0.25, TileWidth: 60, TileHeight: 1, URI: 'oss://media/sprite-e/wide.png' }] });
    expect(outputs[0]!.Width).toBeLessThanOrEqual(16384);
    expect(outputs[0]!.Width).toBeGreaterThan(16000);
    const tileWidth = Math.floor((16384 - 4 - 59 * 2) / 60);
    expect(outputs[0]!.Height).toBe(4 + Math.floor((240 * tileWidth) / 320));

    const failed = await server.run(request({ Sprites: [{ Format: 'png', Number: 60, Interval: 0.25, ScaleWidth: 1, TileWidth: 60, TileHeight: 1, URI: 'oss://media/sprite-e/explicit.png' }] }));
    expect(failed.Status).toBe('Failed');
    expect(failed.Code).toBe('InvalidArgument');
    expect(failed.Message).toBe(
      'Targets[0].Image.Sprites[0]: a sheet of 60x1 tiles of 320x240 px would be 19322x244 px, above the limit of 16384 px a side and 100 megapixels: lower ScaleWidth/ScaleHeight, TileWidth/TileHeight, Pad or Margin.',
    );
    expect(failed.Outputs).toEqual([]);
  });
});

describe('Animations', () => {
  it('GIF: frames chosen like interval snapshots, in real time by default (FrameRate = 1 / Interval)', async () => {
    const [out] = await succeeded({ Animations: [{ Format: 'gif', StartTime: 1, Interval: 0.5, Number: 6, Width: 160, Height: 120, URI: 'oss://media/anim/a.gif' }] });
    expect([out!.URI, out!.Index, out!.AnimationIndex, out!.Width, out!.Height]).toEqual(['oss://media/anim/a.gif', 1, 0, 160, 120]);
    const image = await body(out!.URI);
    const meta = await sharp(image).metadata();
    expect([meta.format, meta.pages, meta.loop]).toEqual(['gif', 6, 0]);
    expect(meta.delay).toEqual(range(6, () => 500));
    expect(await animationFrames(image, 6)).toEqual(range(6, (k) => frameOf(1 + k * 0.5)));
  });

  it('WebP: FrameRate sets the delays (Interval 1 s at 10 fps: ten times real speed); Width as a fraction', async () => {
    const [out] = await succeeded({ Animations: [{ Format: 'webp', Interval: 1, Number: 4, FrameRate: 10, Width: 0.5, URI: 'oss://media/anim/b.{autoext}' }] });
    expect([out!.URI, out!.Width, out!.Height]).toEqual(['oss://media/anim/b.webp', 160, 120]);
    const image = await body(out!.URI);
    const meta = await sharp(image).metadata();
    expect([meta.format, meta.pages]).toEqual(['webp', 4]);
    expect(meta.delay).toEqual([100, 100, 100, 100]);
    expect(await animationFrames(image, 4)).toEqual([0, 25, 50, 75]);
    expect(out!.FramesMs).toEqual([0, 1000, 2000, 3000]);
  });

  it('Number 0 runs to the end, bounded: more than 300 frames fails the task before anything is written', async () => {
    const task = await server.run(request({ Animations: [{ Format: 'gif', Interval: 0.04, Width: 32, URI: 'oss://media/anim/long.gif' }] }));
    expect(task.Status).toBe('Failed');
    expect(task.Message).toMatch(/^Targets\[0\]\.Image\.Animations\[0\] would have 500 frames, above the limit of 300 per animation/);
    expect(task.Outputs).toEqual([]);
  });
});

describe('one task, every kind', () => {
  it('snapshots, a sprite and an animation: recorded apart, counted together', async () => {
    const outputs = await succeeded({
      Snapshots: [{ Format: 'jpg', StartTime: 3, Number: 1, URI: 'oss://media/mixed/cover.jpg' }],
      Sprites: [{ Format: 'png', Interval: 5, Number: 4, ScaleWidth: 160, ScaleHeight: 120, TileWidth: 2, TileHeight: 2, URI: 'oss://media/mixed/sprite.png' }],
      Animations: [{ Format: 'gif', Interval: 5, Width: 160, Height: 120, URI: 'oss://media/mixed/anim.gif' }],
    });
    expect(outputs.map((o) => [o.URI.split('/').pop(), o.SnapshotIndex, o.SpriteIndex, o.AnimationIndex])).toEqual([
      ['anim.gif', undefined, undefined, 0],
      ['cover.jpg', 0, undefined, undefined],
      ['sprite.png', undefined, 0, undefined],
    ]);
    expect(await readFrameIndex(await body('oss://media/mixed/cover.jpg'))).toBe(75);
    expect(await tileFrames(await body('oss://media/mixed/sprite.png'), { columns: 2, tileWidth: 160, tileHeight: 120, pad: 2, margin: 2 }, 4)).toEqual([0, 125, 250, 375]);
    expect(await animationFrames(await body('oss://media/mixed/anim.gif'), 4)).toEqual([0, 125, 250, 375]);
  });

  it('the per-task frame cap counts sprite tiles and animation frames', async () => {
    const capped = await startServer({ objects: { 'media/v.mp4': videoPath }, projects: ['test-project'], env: { STILLFRAME_MAX_FRAMES_PER_TASK: '30' } });
    try {
      const task = await capped.run(request({ Sprites: [{ Format: 'jpg', Interval: 1, ScaleWidth: 32, URI: 'oss://media/cap/s-{index}.jpg' }], Animations: [{ Format: 'gif', Interval: 1, Width: 32, URI: 'oss://media/cap/a.gif' }] }));
      expect(task.Status).toBe('Failed');
      expect(task.Code).toBe('LimitExceededError');
      expect(task.Message).toMatch(/would capture 40 frames, above the limit of 30/);
    } finally {
      await capped.close();
    }
  });
});

describe('refused at submit', () => {
  const S = 'Targets[0].Image.Sprites[0]';
  const A = 'Targets[0].Image.Animations[0]';
  const sprite = (fields: Record<string, unknown>) => request({ Sprites: [{ Format: 'jpg', Interval: 1, URI: 'oss://media/bad/{index}.jpg', ...fields }] });
  const animation = (fields: Record<string, unknown>) => request({ Animations: [{ Format: 'gif', Interval: 1, URI: 'oss://media/bad/a.gif', ...fields }] });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['Number 0 without {index}', sprite({ URI: 'oss://media/bad/s.jpg' }), 'InvalidArgument', `${S}.URI must contain {index}: this sprite can fill several sheets of TileWidth x TileHeight = 36 tiles (Number is 0 = until the end), which would overwrite each other.`],
    ['more tiles than a sheet without {index}', sprite({ URI: 'oss://media/bad/s.jpg', Number: 7, TileWidth: 3, TileHeight: 2 }), 'InvalidArgument', `${S}.URI must contain {index}: this sprite can fill several sheets of TileWidth x TileHeight = 6 tiles (Number is 7), which would overwrite each other.`],
    ['no Format', sprite({ Format: undefined }), 'MissingFormat', `The parameter ${S}.Format is required.`],
    ['a sprite as GIF', sprite({ Format: 'gif' }), 'InvalidArgument', `Expected one of jpg, png, webp for ${S}.Format but received "gif".`],
    ['TileWidth 0', sprite({ TileWidth: 0 }), 'InvalidArgument', `Expected integer between 1 and 100 for ${S}.TileWidth but received 0.`],
    ['Pad -1', sprite({ Pad: -1 }), 'InvalidArgument', `Expected integer between 0 and 256 for ${S}.Pad but received -1.`],
    ['ScaleWidth 1.5', sprite({ ScaleWidth: 1.5 }), 'InvalidArgument', `Expected integer between 2 and 4096 (pixels) or a decimal in (0, 1] (fraction of the source) for ${S}.ScaleWidth but received 1.5.`],
    ['Threshold without dhash', sprite({ Threshold: 10 }), 'InvalidArgument', `${S}.Threshold applies to Mode dhash only (Mode is interval).`],
    ['average without Number', sprite({ Mode: 'average' }), 'InvalidArgument', `${S}.Number is required (integer >= 1) with Mode average: the frames to spread over the video.`],
    ['a sheet over 16384 px', sprite({ ScaleWidth: 4096, TileWidth: 6 }), 'InvalidArgument', `${S}: a sheet of these tiles would be 24590 px wide, above the jpg limit of 16384 px a side: lower TileWidth/TileHeight, ScaleWidth/ScaleHeight, Pad or Margin.`],
    ['Width, not ScaleWidth, on a sprite', sprite({ Width: 100 }), 'InvalidArgument', `${S} has unknown field "Width": expected Format, URI, StartTime, Interval, Number, Mode, Threshold, ScaleType, ScaleWidth, ScaleHeight, TileWidth, TileHeight, Pad, Margin.`],
    ['an animation as JPEG', animation({ Format: 'jpg' }), 'InvalidArgument', `Expected one of gif, webp for ${A}.Format but received "jpg".`],
    ['no URI', animation({ URI: undefined }), 'MissingURI', `The parameter ${A}.URI is required.`],
    ['301 frames', animation({ Number: 301 }), 'InvalidArgument', `Expected integer between 0 and 300 for ${A}.Number but received 301.`],
    ['FrameRate 0', animation({ FrameRate: 0 }), 'InvalidArgument', `Expected number > 0 and <= 60 for ${A}.FrameRate but received 0.`],
    ['Mode on an animation', animation({ Mode: 'dhash' }), 'InvalidArgument', `${A} has unknown field "Mode": expected Format, URI, StartTime, Interval, Number, FrameRate, Width, Height, ScaleType.`],
    ['Width 5000', animation({ Width: 5000 }), 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${A}.Width but received 5000.`],
    ['an empty Sprites', request({ Sprites: [] }), 'MissingSprites', 'The parameter Targets[0].Image.Sprites[0] is required.'],
  ])('%s', async (_, body, code, message) => {
    const res = await server.call('CreateMediaConvertTask', body);
    expect(res.status).toBe(400);
    expect([res.body.Code, res.body.Message]).toEqual([code, message]);
  });

  it('a sheet and an animation of one source may not share a name', async () => {
    const res = await server.call('CreateMediaConvertTask', request({ Sprites: [{ Format: 'png', Number: 1, URI: 'oss://media/same.png' }], Animations: [{ Format: 'gif', Number: 2, URI: 'oss://media/same.png' }] }));
    expect(res.status).toBe(400);
    expect(res.body.Message as Json).toMatch(/would write the same objects \(oss:\/\/media\/same\.png, …\)/);
  });
});
