// stillframe's video/snapshot extensions: `t_<n>p` (a share of the video stream's duration) and
// `m_best[<ms>]` (the best frame in a window after t). Every fixture frame carries its own index, so each
// assertion names the frame that came back.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BLURRED_FRAMES, OPEN_BLACK_FRAMES, blurredStretchFixture, fixture, frameAt, frameTimeMs, keyframeAtOrBefore, openBlackFixture, readFrameIndex,
  type FixtureSpec,
} from '../support/fixtures.js';
import { snapshotUrl, startServer, type TestServer } from '../support/server.js';

// 10 s at 25 fps: 250 frames, a keyframe every 25. The stream's duration comes from the MP4 track, from
// the Matroska container, and from MPEG-TS's container clock less its 1.4 s start offset.
const CLIPS: { name: string; spec: FixtureSpec }[] = [
  { name: 'mp4', spec: { container: 'mp4', codec: 'h264', seconds: 10 } },
  { name: 'mkv-bframes', spec: { container: 'mkv', codec: 'h264', seconds: 10, bframes: 2 } },
  { name: 'ts-bframes', spec: { container: 'ts', codec: 'h264', seconds: 10, bframes: 2 } },
];
const LAST = 249;

let server: TestServer;

beforeAll(async () => {
  const objects: Record<string, string> = {};
  await Promise.all(CLIPS.map(async ({ name, spec }) => (objects[`media/${name}.${spec.container}`] = await fixture(spec))));
  objects['media/open-black.mp4'] = await openBlackFixture();
  objects['media/blurred.mp4'] = await blurredStretchFixture();
  server = await startServer({ objects, env: { STILLFRAME_WORKERS: '2', STILLFRAME_QUEUE_LENGTH: '1000' } });
}, 120_000);

afterAll(() => server?.close());

async function snap(object: string, process: string) {
  const res = await fetch(snapshotUrl(server, object, process));
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${res.status} ${body.toString()}`);
  return { res, body, time: Number(res.headers.get('x-frame-time')), keyframe: res.headers.get('x-frame-keyframe') };
}

/** Mean luma (0–255) of an encoded image. */
async function meanLuma(image: Buffer): Promise<number> {
  const { data } = await sharp(image).greyscale().raw().toBuffer({ resolveWithObject: true });
  return data.reduce((sum, v) => sum + v, 0) / data.length;
}

/** Variance of the 4-neighbour Laplacian of an encoded image (grey, as stored): higher = sharper. */
async function sharpness(image: Buffer): Promise<number> {
  const { data, info } = await sharp(image).greyscale().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  let sum = 0;
  let squares = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = 4 * data[i]! - data[i - 1]! - data[i + 1]! - data[i - width]! - data[i + width]!;
      sum += l;
      squares += l * l;
      n++;
    }
  }
  return squares / n - (sum / n) ** 2;
}

describe.each(CLIPS)('t as a share of the duration: $name', ({ name, spec }) => {
  const object = `media/${name}.${spec.container}`;

  it.each([
    ['t_50p', frameAt(5000)],
    ['t_0p', 0],
    ['t_12.5p', frameAt(1250)],
    ['t_99.9p', frameAt(9990)],
    ['t_100p', LAST],
  ])('%s returns the frame shown at that share of 10 s', async (t, index) => {
    const { body, time } = await snap(object, `video/snapshot,${t}`);
    expect(await readFrameIndex(body)).toBe(index);
    expect(Math.abs(time - frameTimeMs(index))).toBeLessThanOrEqual(1);
  });

  it.each([
    ['t_55p', keyframeAtOrBefore(frameAt(5500))],
    ['t_0p', 0],
    ['t_100p', keyframeAtOrBefore(LAST)],
  ])('%s with m_fast returns the keyframe at or before it', async (t, index) => {
    const { body, time, keyframe } = await snap(object, `video/snapshot,${t},m_fast`);
    expect(await readFrameIndex(body)).toBe(index);
    expect(keyframe).toBe('1');
    expect(Math.abs(time - frameTimeMs(index))).toBeLessThanOrEqual(1);
  });
});

describe('t as a share of the duration: the answer', () => {
  it('is cached under the percentage, not the time it resolved to', async () => {
    const percent = await snap('media/mp4.mp4', 'video/snapshot,t_50p');
    const again = await snap('media/mp4.mp4', 'video/snapshot,t_050.0p');
    const ms = await snap('media/mp4.mp4', 'video/snapshot,t_5000');
    expect(again.res.headers.get('etag')).toBe(percent.res.headers.get('etag'));
    expect(ms.res.headers.get('etag')).not.toBe(percent.res.headers.get('etag'));
    expect(await readFrameIndex(ms.body)).toBe(await readFrameIndex(percent.body));
  });

  it('refuses a share above 100 or a malformed one with the t error code, naming the value', async () => {
    for (const [t, ec] of [['t_150p', '0053-00000101'], ['t_1.2345p', '0053-00000101'], ['t_50%25', '0053-00000101']] as const) {
      const res = await fetch(snapshotUrl(server, 'media/mp4.mp4', `video/snapshot,${t}`));
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(res.headers.get('x-oss-ec')).toBe(ec);
      expect(text).toContain('<Code>InvalidArgument</Code>');
      expect(text).toContain(decodeURIComponent(t.slice(2)));
    }
  });
});

describe('m_best on a clip that opens black (2 s)', () => {
  const object = 'media/open-black.mp4';

  it('the exact frame at t_0 is black (the control)', async () => {
    const { body } = await snap(object, 'video/snapshot,t_0');
    expect(await meanLuma(body)).toBeLessThan(30);
  });

  it.each(['t_0,m_best', 't_0p,m_best', 't_500,m_best', 't_0,m_best3000'])('%s skips the black frames', async (process) => {
    const { body, time, keyframe } = await snap(object, `video/snapshot,${process}`);
    expect(await meanLuma(body)).toBeGreaterThan(40);
    expect(time).toBeGreaterThanOrEqual(2000);
    const index = await readFrameIndex(body);
    expect(index).toBeGreaterThanOrEqual(OPEN_BLACK_FRAMES);
    expect(Math.abs(time - frameTimeMs(index))).toBeLessThanOrEqual(1);
    expect(keyframe).toBe(index % 25 === 0 ? '1' : '0');
  });

  it('a window with nothing but black returns the least bad frame: the first, as all are alike', async () => {
    const { body, time } = await snap(object, 'video/snapshot,t_0,m_best1000');
    expect(await meanLuma(body)).toBeLessThan(30);
    expect(time).toBe(0);
  });

  it('m_best and m_best3000 are one request (one cache key, one ETag)', async () => {
    const a = await snap(object, 'video/snapshot,t_0,m_best');
    const b = await snap(object, 'video/snapshot,m_best3000,t_0');
    expect(b.res.headers.get('etag')).toBe(a.res.headers.get('etag'));
    expect(b.time).toBe(a.time);
  });
});

describe('m_best on a clip with a blurred stretch (frames 75–114)', () => {
  const object = 'media/blurred.mp4';
  const [, lastBlurred] = BLURRED_FRAMES;

  it('the exact frame at 3 s is blurred (the control)', async () => {
    const blurred = await snap(object, 'video/snapshot,t_3000');
    const sharp = await snap(object, `video/snapshot,t_${frameTimeMs(lastBlurred + 1)}`);
    expect(await sharpness(blurred.body)).toBeLessThan((await sharpness(sharp.body)) / 4);
  });

  it.each([
    ['m_best', 150],
    ['m_best2000', 125],
  ])('t_3000,%s returns a sharp frame after the blur, inside the window', async (mode, lastInWindow) => {
    const { body, time } = await snap(object, `video/snapshot,t_3000,${mode}`);
    const index = await readFrameIndex(body);
    expect(index).toBeGreaterThan(lastBlurred);
    expect(index).toBeLessThanOrEqual(lastInWindow);
    expect(Math.abs(time - frameTimeMs(index))).toBeLessThanOrEqual(1);
  });

  it('with nothing to avoid in the window, the answer is a frame of the window', async () => {
    const { body, time } = await snap(object, 'video/snapshot,t_6000,m_best1000');
    const index = await readFrameIndex(body);
    expect(index).toBeGreaterThanOrEqual(frameAt(6000));
    expect(index).toBeLessThanOrEqual(frameAt(7000));
    expect(time).toBeGreaterThanOrEqual(6000);
  });

  it('works with t as a share of the duration and with the longest window to the end of the clip', async () => {
    const { body } = await snap(object, 'video/snapshot,t_30p,m_best');
    expect(await readFrameIndex(body)).toBeGreaterThan(lastBlurred);
    const { body: tail } = await snap(object, 'video/snapshot,t_95p,m_best10000');
    expect(await readFrameIndex(tail)).toBeGreaterThanOrEqual(frameAt(9500));
  });

  it('refuses a window out of bounds with the m error code, naming the value', async () => {
    for (const m of ['best50', 'best20000', 'better']) {
      const res = await fetch(snapshotUrl(server, object, `video/snapshot,m_${m}`));
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(res.headers.get('x-oss-ec')).toBe('0053-00000106');
      expect(text).toContain(`&quot;${m}&quot;`);
    }
  });
});
