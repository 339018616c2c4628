// Output geometry, exactly as the spec gives it: stretch (exact, may distort), crop (cover, centre
// crop), fill (fit inside, black padding to the exact size), fit (fit inside, no padding); fractions of
// the upright source; one side given keeps the aspect; rotated sources come out upright.
import sharp, { type FitEnum } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFrames, fixture, readFrameCode, readFrameIndex } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let reference: Buffer;

beforeAll(async () => {
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 2 });
  reference = (await extractFrames(video, [25], { format: 'png' }))[0]!;
  server = await startServer({
    objects: {
      'media/v.mp4': video,
      'media/portrait.mp4': await fixture({ container: 'mp4', codec: 'h264', seconds: 2, rotate: 90 }),
    },
  });
  await server.call('CreateProject', { ProjectName: 'test-project' });
});

afterAll(() => server?.close());

async function capture(object: string, snapshots: Record<string, unknown>[]) {
  const task = await server.run({
    ProjectName: 'test-project',
    Sources: [{ URI: `oss://media/${object}` }],
    Targets: [{ Image: { Snapshots: snapshots.map((s, i) => ({ Format: 'png', StartTime: 1, Number: 1, URI: `oss://media/geometry/${object}-${i}.png`, ...s })) } }],
  });
  expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
  return Promise.all(
    snapshots.map(async (_, i) => {
      const body = Buffer.from(await (await server.get(`media/geometry/${object}-${i}.png`)).arrayBuffer());
      const { width, height } = await sharp(body).metadata();
      return { body, size: [width, height] };
    }),
  );
}

async function distance(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((img) => sharp(img).greyscale().raw().toBuffer()));
  let sum = 0;
  for (let i = 0; i < x!.length; i++) sum += Math.abs(x![i]! - y![i]!);
  return sum / x!.length;
}

describe('ScaleType geometry (320×240 source into 200×200)', () => {
  it('stretch, crop, fill and fit', async () => {
    const [stretch, crop, fill, fit] = await capture('v.mp4', ['stretch', 'crop', 'fill', 'fit'].map((ScaleType) => ({ ScaleType, Width: 200, Height: 200 })));
    expect(stretch!.size).toEqual([200, 200]);
    expect(crop!.size).toEqual([200, 200]);
    expect(fill!.size).toEqual([200, 200]);
    expect(fit!.size).toEqual([200, 150]);

    // Each is the reference frame resized the way the spec says.
    const expected = (fit: keyof FitEnum) => sharp(reference).resize(200, 200, { fit, background: { r: 0, g: 0, b: 0 } }).png().toBuffer();
    expect(await distance(stretch!.body, await expected('fill'))).toBeLessThan(3);
    expect(await distance(crop!.body, await expected('cover'))).toBeLessThan(3);
    expect(await distance(fill!.body, await expected('contain'))).toBeLessThan(3);
    expect(await readFrameIndex(stretch!.body)).toBe(25);
    expect(await readFrameIndex(fit!.body)).toBe(25);

    // fill pads with black above and below the 200×150 picture.
    const { data } = await sharp(fill!.body).greyscale().raw().toBuffer({ resolveWithObject: true });
    const row = (y: number) => Math.max(...data.subarray(y * 200, (y + 1) * 200));
    expect([row(0), row(20), row(179), row(199)]).toEqual([0, 0, 0, 0]);
    expect(row(100)).toBeGreaterThan(100);
  });

  it('fractions, one side only, and the source size', async () => {
    const [half, width, height, source] = await capture('v.mp4', [{ Width: 0.5, Height: 0.25 }, { Width: 0.5 }, { Height: 100 }, {}]);
    expect(half!.size).toEqual([160, 60]);
    expect(width!.size).toEqual([160, 120]);
    expect(height!.size).toEqual([133, 100]);
    expect(source!.size).toEqual([320, 240]);
  });

  it('takes fractions of the displayed picture of a rotated source, and outputs it as displayed', async () => {
    const [half, full] = await capture('portrait.mp4', [{ Width: 0.5 }, {}]);
    expect(full!.size).toEqual([240, 320]);
    expect(half!.size).toEqual([120, 160]);
    // The stored picture is turned 90° clockwise for display, as a player shows it (the fixture kit's
    // orientation 90), not left as stored (orientation 0).
    expect((await readFrameCode(full!.body)).orientation).toBe(90);
    expect(await readFrameIndex(half!.body)).toBe(25);
  });
});
