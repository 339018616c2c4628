// Which frame comes back: every fixture frame carries its own index, so each assertion names the frame.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  anamorphicFixture, audioFixture, COVER_INDEX, fixture, frameCount, frameMidMs, frameTimeMs, isUpright, keyframeAtOrBefore, readFrameIndex, vfrFixture,
  type FixtureSpec,
} from '../support/fixtures.js';
import { snapshotUrl, startServer, type TestServer } from '../support/server.js';

interface Case {
  name: string;
  spec: FixtureSpec;
}

const CASES: Case[] = [
  { name: 'mp4-h264', spec: { container: 'mp4', codec: 'h264' } },
  { name: 'mp4-h264-bframes-longgop', spec: { container: 'mp4', codec: 'h264', bframes: 2, gop: 100, seconds: 6 } },
  { name: 'mp4-hevc-bframes', spec: { container: 'mp4', codec: 'hevc', bframes: 2 } },
  { name: 'mp4-mpeg4', spec: { container: 'mp4', codec: 'mpeg4' } },
  { name: 'mov-h264', spec: { container: 'mov', codec: 'h264', bframes: 2 } },
  { name: 'mkv-h264', spec: { container: 'mkv', codec: 'h264', bframes: 2 } },
  { name: 'mkv-hevc', spec: { container: 'mkv', codec: 'hevc' } },
  { name: 'mkv-vp9', spec: { container: 'mkv', codec: 'vp9' } },
  { name: 'webm-vp9', spec: { container: 'webm', codec: 'vp9' } },
  { name: 'mp4-av1', spec: { container: 'mp4', codec: 'av1' } },
  { name: 'webm-av1', spec: { container: 'webm', codec: 'av1' } },
  { name: 'mp4-hevc-10bit-bframes', spec: { container: 'mp4', codec: 'hevc', bitDepth: 10, bframes: 2 } },
  { name: 'mkv-vp9-10bit', spec: { container: 'mkv', codec: 'vp9', bitDepth: 10 } },
  { name: 'ts-h264-bframes', spec: { container: 'ts', codec: 'h264', bframes: 2 } },
  { name: 'ts-hevc', spec: { container: 'ts', codec: 'hevc' } },
  { name: 'avi-mpeg4', spec: { container: 'avi', codec: 'mpeg4' } },
  { name: 'flv-h264', spec: { container: 'flv', codec: 'h264' } },
  // 30 fps in FLV's millisecond clock: timestamps are rounded, the grid is not uniform.
  { name: 'flv-h264-30fps', spec: { container: 'flv', codec: 'h264', fps: 30 } },
];

let server: TestServer;
const paths = new Map<string, string>();

// Up to 10 min: on a fresh clone the kit makes 23 fixtures here (AV1, 10-bit HEVC …) while other files make theirs.
beforeAll(async () => {
  const objects: Record<string, string> = {};
  await Promise.all(
    CASES.map(async ({ name, spec }) => {
      const path = await fixture(spec);
      objects[`media/${name}.${spec.container}`] = path;
      paths.set(name, `media/${name}.${spec.container}`);
    }),
  );
  objects['media/rot90.mp4'] = await fixture({ container: 'mp4', codec: 'h264', rotate: 90 });
  objects['media/rot270.mov'] = await fixture({ container: 'mov', codec: 'h264', rotate: 270 });
  objects['media/cover.mp3'] = await audioFixture({ cover: true });
  objects['media/vfr.mp4'] = await vfrFixture();
  objects['media/anamorphic.mkv'] = await anamorphicFixture();
  server = await startServer({ objects, env: { STILLFRAME_WORKERS: '2', STILLFRAME_QUEUE_LENGTH: '1000' } });
}, 600_000);

afterAll(() => server?.close());

async function snap(object: string, process: string) {
  const res = await fetch(snapshotUrl(server, object, process));
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${res.status} ${body.toString()}`);
  return { res, body };
}

describe.each(CASES)('$name', ({ name, spec }) => {
  const fps = spec.fps ?? 25;
  const gop = spec.gop ?? 25;
  const last = frameCount(spec) - 1;
  // First, early, mid-GOP, just after a keyframe, late, the last frame.
  const indices = [...new Set([0, 1, 7, gop - 1, gop, gop + 3, Math.floor(last * 0.6), last - 1, last])];

  it('exact mode returns the frame shown at t', async () => {
    await Promise.all(
      indices.map(async (index) => {
        const { res, body } = await snap(paths.get(name)!, `video/snapshot,t_${Math.floor(frameMidMs(index, fps))}`);
        expect({ index, got: await readFrameIndex(body) }).toEqual({ index, got: index });
        expect(Math.abs(Number(res.headers.get('x-frame-time')) - frameTimeMs(index, fps))).toBeLessThanOrEqual(1);
        expect(res.headers.get('x-frame-keyframe')).toBe(index % gop === 0 ? '1' : '0');
      }),
    );
  });

  it('m_fast returns the keyframe at or before t, decoded as a real keyframe', async () => {
    await Promise.all(
      indices.map(async (index) => {
        const { res, body } = await snap(paths.get(name)!, `video/snapshot,t_${Math.floor(frameMidMs(index, fps))},m_fast`);
        const keyframe = keyframeAtOrBefore(index, gop);
        expect({ index, got: await readFrameIndex(body) }).toEqual({ index, got: keyframe });
        expect(res.headers.get('x-frame-keyframe')).toBe('1');
        expect(Math.abs(Number(res.headers.get('x-frame-time')) - frameTimeMs(keyframe, fps))).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('t past the end returns the last frame', async () => {
    const { body } = await snap(paths.get(name)!, 'video/snapshot,t_3600000');
    expect(await readFrameIndex(body)).toBe(last);
  });
});

describe('frame boundaries', () => {
  it('t exactly on a frame start is that frame; 1 ms before is the previous one', async () => {
    const object = paths.get('mp4-h264-bframes-longgop')!;
    await Promise.all(
      [1, 26, 99, 100, 101].map(async (index) => {
        const start = frameTimeMs(index);
        expect(await readFrameIndex((await snap(object, `video/snapshot,t_${start}`)).body)).toBe(index);
        expect(await readFrameIndex((await snap(object, `video/snapshot,t_${start - 1}`)).body)).toBe(index - 1);
      }),
    );
  });

  it('MPEG-TS time counts from the first frame, not the container clock', async () => {
    const { res, body } = await snap(paths.get('ts-h264-bframes')!, 'video/snapshot,t_0');
    expect(await readFrameIndex(body)).toBe(0);
    expect(res.headers.get('x-frame-time')).toBe('0');
  });
});

describe('variable frame rate', () => {
  it.each([
    [1000, 25], [1990, 49], [2000, 50], [2079, 50], [2085, 51], [3900, 73], [5919, 98], [5920, 99], [9000, 99],
  ])('t_%i is frame %i', async (t, index) => {
    const { res, body } = await snap('media/vfr.mp4', `video/snapshot,t_${t}`);
    expect(await readFrameIndex(body)).toBe(index);
    const start = index < 50 ? index * 40 : 2000 + (index - 50) * 80;
    expect(res.headers.get('x-frame-time')).toBe(String(start));
  });
});

describe('pixel aspect ratio', () => {
  it('non-square pixels are squared to the display shape', async () => {
    const { body } = await snap('media/anamorphic.mkv', 'video/snapshot,t_1020');
    expect(await sharp(body).metadata()).toMatchObject({ width: 320, height: 240 });
    expect(await readFrameIndex(body)).toBe(25);
  });
});

describe('rotation', () => {
  it('without ar the frame comes as stored', async () => {
    const { body } = await snap('media/rot90.mp4', 'video/snapshot,t_1020');
    expect(await sharp(body).metadata()).toMatchObject({ width: 320, height: 240 });
    expect(await isUpright(body)).toBe(true);
  });

  it.each([
    ['media/rot90.mp4', 90],
    ['media/rot270.mov', 270],
  ])('ar_auto applies the display rotation of %s', async (object, rotation) => {
    const { body } = await snap(object, 'video/snapshot,t_1020,ar_auto');
    expect(await sharp(body).metadata()).toMatchObject({ width: 240, height: 320 });
    // Turning it back by the stored rotation restores the original: the turn was exactly the metadata's.
    const undone = await sharp(body).rotate(360 - rotation).png().toBuffer();
    expect(await isUpright(undone)).toBe(true);
    expect(await readFrameIndex(undone)).toBe(25);
  });

  it('ar_w keeps a landscape picture, ar_h turns it to portrait', async () => {
    expect(await sharp((await snap('media/rot90.mp4', 'video/snapshot,t_0,ar_w')).body).metadata()).toMatchObject({ width: 320, height: 240 });
    expect(await sharp((await snap('media/rot90.mp4', 'video/snapshot,t_0,ar_h')).body).metadata()).toMatchObject({ width: 240, height: 320 });
  });

  it('w/h apply to the rotated picture', async () => {
    const { body } = await snap('media/rot90.mp4', 'video/snapshot,t_0,ar_auto,w_120');
    expect(await sharp(body).metadata()).toMatchObject({ width: 120, height: 160 });
  });
});

describe('output size and format', () => {
  const object = () => paths.get('mp4-h264')!;
  it.each([
    ['', 320, 240],
    [',w_160', 160, 120],
    [',h_60', 80, 60],
    [',w_100,h_300', 100, 300],
    [',w_0,h_0', 320, 240],
  ])('size%s → %dx%d', async (params, width, height) => {
    const { body } = await snap(object(), `video/snapshot,t_1000${params}`);
    expect(await sharp(body).metadata()).toMatchObject({ width, height });
    expect(await readFrameIndex(body)).toBe(25);
  });

  it.each([
    ['jpg', 'image/jpeg', 'jpeg'],
    ['png', 'image/png', 'png'],
    ['webp', 'image/webp', 'webp'],
    ['avif', 'image/avif', 'heif'],
  ])('f_%s is %s', async (f, contentType, sharpFormat) => {
    const { res, body } = await snap(object(), `video/snapshot,t_1000,f_${f}`);
    expect(res.headers.get('content-type')).toBe(contentType);
    expect((await sharp(body).metadata()).format).toBe(sharpFormat);
    expect(await readFrameIndex(body)).toBe(25);
  });
});

describe('audio', () => {
  it('an MP3 with a cover picture answers with the cover', async () => {
    const { body } = await snap('media/cover.mp3', 'video/snapshot,t_1000');
    expect(await readFrameIndex(body)).toBe(COVER_INDEX);
  });
});
