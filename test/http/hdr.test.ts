// HDR phone video comes back as its SDR master looks: PQ (HDR10) and HLG HEVC Main 10 in BT.2020 are
// tone-mapped to BT.709 with SDR reference white at 203 cd/m², so content inside the SDR range keeps
// its level and colour. The fixtures are one SDR master and two HDR versions made from it; each capture
// is compared with the master's same frame (the frame code proves which frame came back).
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFrames, hdrFixture, readFrameIndex, type HdrFixture, type HdrKind } from '../support/fixtures.js';
import { snapshotUrl, startServer, type TestServer } from '../support/server.js';

const FRAME = 37;

interface Rgb {
  data: Buffer;
  width: number;
  height: number;
}

const rgb = async (image: Buffer): Promise<Rgb> => {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
};

/** Mean of max(R,G,B) − min(R,G,B): how colourful the picture is. */
function meanChroma(p: Rgb): number {
  let sum = 0;
  for (let i = 0; i < p.data.length; i += 3) sum += Math.max(p.data[i]!, p.data[i + 1]!, p.data[i + 2]!) - Math.min(p.data[i]!, p.data[i + 1]!, p.data[i + 2]!);
  return sum / (p.data.length / 3);
}

function meanAbsoluteDifference(a: Rgb, b: Rgb): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}

let server: TestServer;
let untoned: TestServer;
const fixtures = new Map<HdrKind, HdrFixture>();
let master: Rgb;

beforeAll(async () => {
  for (const kind of ['sdr', 'hdr10', 'hlg'] as const) fixtures.set(kind, await hdrFixture(kind));
  const objects = Object.fromEntries([...fixtures].map(([kind, f]) => [`media/${kind}.mp4`, f.path]));
  server = await startServer({ objects });
  untoned = await startServer({ objects, env: { STILLFRAME_TONEMAP: 'off' } });
  master = await rgb((await extractFrames(fixtures.get('sdr')!.master, [FRAME], { format: 'png' }))[0]!);
});

afterAll(async () => {
  await server?.close();
  await untoned?.close();
});

async function capture(on: TestServer, kind: HdrKind): Promise<{ picture: Rgb; png: Buffer }> {
  const { fps } = fixtures.get(kind)!;
  const res = await fetch(snapshotUrl(on, `media/${kind}.mp4`, `video/snapshot,t_${Math.round(((FRAME + 0.5) * 1000) / fps)},f_png`));
  expect(res.status).toBe(200);
  const png = Buffer.from(await res.arrayBuffer());
  return { picture: await rgb(png), png };
}

async function frameOf(kind: HdrKind, png: Buffer): Promise<number> {
  const { code } = fixtures.get(kind)!;
  return readFrameIndex(await sharp(png).extract({ left: code.x, top: code.y, width: code.width, height: code.height }).png().toBuffer());
}

describe.each(['sdr', 'hdr10', 'hlg'] as const)('%s', (kind) => {
  it('comes back close to the SDR master: the same frame, its colour kept (chroma ≥ 0.7×), levels within 40', async () => {
    const { picture, png } = await capture(server, kind);
    expect([picture.width, picture.height]).toEqual([master.width, master.height]);
    expect(await frameOf(kind, png)).toBe(FRAME);
    const chroma = meanChroma(picture) / meanChroma(master);
    const difference = meanAbsoluteDifference(picture, master);
    expect(chroma).toBeGreaterThanOrEqual(0.7);
    expect(chroma).toBeLessThanOrEqual(1.3);
    expect(difference).toBeLessThanOrEqual(40);
  });
});

describe('with STILLFRAME_TONEMAP=off', () => {
  it.each(['hdr10', 'hlg'] as const)('%s is shown as coded: far from the master (what tone mapping fixes)', async (kind) => {
    const { picture } = await capture(untoned, kind);
    const chroma = meanChroma(picture) / meanChroma(master);
    const difference = meanAbsoluteDifference(picture, master);
    expect(chroma < 0.7 || difference > 40).toBe(true);
  });

  it('SDR is unaffected', async () => {
    const { picture } = await capture(untoned, 'sdr');
    expect(meanAbsoluteDifference(picture, master)).toBeLessThanOrEqual(5);
  });
});
