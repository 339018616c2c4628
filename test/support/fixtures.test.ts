// Self-test of the fixture kit: every fixture must carry readable frame codes, exact keyframes,
// and the metadata it claims. Generation is cached in test/.fixtures/, so reruns are fast.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  COVER_INDEX,
  audioFixture,
  codeImage,
  extractFrames,
  ffmpegLibraryVersion,
  fixture,
  frameAt,
  frameCount,
  frameMidMs,
  hdrFixture,
  isUpright,
  keyframeAtOrAfter,
  keyframeAtOrBefore,
  keyframeIndices,
  meanLumas,
  probe,
  probeDecodedFrame,
  probeFrames,
  probePackets,
  probeRotation,
  readFrameCode,
  readFrameIndex,
  sceneCutFixture,
  type Box,
  type FixtureSpec,
} from './fixtures.js';

const SLOW = { timeout: 60_000 };

// Decoding a whole fixture is the slow part of a probe: do it once per file.
const framesCache = new Map<string, ReturnType<typeof probeFrames>>();
function framesOf(path: string): ReturnType<typeof probeFrames> {
  let p = framesCache.get(path);
  if (!p) framesCache.set(path, (p = probeFrames(path)));
  return p;
}

/** Resize (anisotropically allowed) and JPEG-compress at quality 60. */
async function degrade(image: Buffer, width: number, height: number): Promise<Buffer> {
  return sharp(image).resize(width, height, { fit: 'fill' }).jpeg({ quality: 60 }).toBuffer();
}

/** 64-bit difference hash (9x8 greyscale, left < right), as a bit string. */
async function dhash(image: Buffer): Promise<string> {
  const px = await sharp(image).greyscale().resize(9, 8, { fit: 'fill' }).raw().toBuffer();
  let bits = '';
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) bits += px[y * 9 + x]! < px[y * 9 + x + 1]! ? '1' : '0';
  return bits;
}

function hamming(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

describe('frame arithmetic', () => {
  it('frameAt / keyframe helpers', () => {
    expect(frameAt(0)).toBe(0);
    expect(frameAt(39.9)).toBe(0);
    expect(frameAt(40)).toBe(1);
    expect(frameAt(1000)).toBe(25);
    expect(frameAt(1000, 30)).toBe(30);
    expect(frameAt(frameMidMs(7))).toBe(7);
    expect(keyframeAtOrBefore(0, 25)).toBe(0);
    expect(keyframeAtOrBefore(49, 25)).toBe(25);
    expect(keyframeAtOrBefore(50, 25)).toBe(50);
    expect(keyframeAtOrAfter(26, 25)).toBe(50);
    expect(keyframeAtOrAfter(50, 25)).toBe(50);
    expect(frameCount({ container: 'mp4', codec: 'h264' })).toBe(100);
  });
});

describe('frame code images', () => {
  it.each([0, 1, 2, 255, 4242, 32768, 65535])('round-trips %i through png, jpeg and webp', async (index) => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      expect(await readFrameIndex(await codeImage(index, { format }))).toBe(index);
    }
  });

  it('survives resizing, stretching and JPEG quality 60', async () => {
    const img = await codeImage(43690, { format: 'jpeg' });
    for (const [w, h] of [[160, 120], [97, 301], [64, 48], [640, 480]] as const) {
      expect(await readFrameIndex(await degrade(img, w, h))).toBe(43690);
    }
  });

  it('tells the orientation; isUpright only for the unrotated picture', async () => {
    const img = await codeImage(1234);
    expect(await isUpright(img)).toBe(true);
    for (const angle of [90, 180, 270] as const) {
      const turned = await sharp(img).rotate(angle).jpeg({ quality: 70 }).toBuffer();
      expect(await readFrameCode(turned)).toEqual({ index: 1234, orientation: angle });
      expect(await isUpright(turned)).toBe(false);
    }
  });

  it('rejects pictures without a frame code', async () => {
    const noise = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3070a0' } }).png().toBuffer();
    await expect(readFrameIndex(noise)).rejects.toThrow(/not a frame-code picture/);
  });
});

interface Case {
  name: string;
  spec: FixtureSpec;
}

const matrix: Case[] = [
  { name: 'mp4/h264', spec: { container: 'mp4', codec: 'h264' } },
  { name: 'mp4/h264 B-frames, gop 100', spec: { container: 'mp4', codec: 'h264', bframes: 2, gop: 100, seconds: 8 } },
  { name: 'mp4/hevc', spec: { container: 'mp4', codec: 'hevc' } },
  { name: 'mov/h264', spec: { container: 'mov', codec: 'h264' } },
  { name: 'mkv/h264', spec: { container: 'mkv', codec: 'h264' } },
  { name: 'mkv/vp9', spec: { container: 'mkv', codec: 'vp9' } },
  { name: 'webm/vp9', spec: { container: 'webm', codec: 'vp9' } },
  { name: 'webm/vp8 + opus', spec: { container: 'webm', codec: 'vp8', audio: true } },
  { name: 'ts/h264', spec: { container: 'ts', codec: 'h264' } },
  { name: 'ts/h264 B-frames', spec: { container: 'ts', codec: 'h264', bframes: 2 } },
  { name: 'avi/mpeg4', spec: { container: 'avi', codec: 'mpeg4' } },
  { name: 'avi/mpeg4 B-frames + mp3', spec: { container: 'avi', codec: 'mpeg4', bframes: 2, audio: true } },
  { name: 'flv/h264', spec: { container: 'flv', codec: 'h264' } },
  { name: 'flv/flv1', spec: { container: 'flv', codec: 'flv1' } },
  { name: 'mp4/h264 30 fps, gop 10, 240x320 + aac', spec: { container: 'mp4', codec: 'h264', fps: 30, seconds: 2, gop: 10, width: 240, height: 320, audio: true } },
  { name: 'mp4/av1', spec: { container: 'mp4', codec: 'av1' } },
  { name: 'webm/av1 + opus, gop 50', spec: { container: 'webm', codec: 'av1', gop: 50, audio: true } },
  { name: 'mkv/av1 10-bit', spec: { container: 'mkv', codec: 'av1', bitDepth: 10 } },
  { name: 'mp4/hevc 10-bit (Main 10) B-frames', spec: { container: 'mp4', codec: 'hevc', bitDepth: 10, bframes: 2 } },
  { name: 'mkv/h264 10-bit (High 10)', spec: { container: 'mkv', codec: 'h264', bitDepth: 10 } },
  { name: 'webm/vp9 10-bit (profile 2)', spec: { container: 'webm', codec: 'vp9', bitDepth: 10 } },
];

/** Profiles of the 10-bit fixtures (AV1's is "Main" for 8 and 10 bits alike: the pixel format tells). */
const PROFILES: Record<string, string> = { h264: 'High 10', hevc: 'Main 10', vp9: 'Profile 2' };

describe.each(matrix)('fixture $name', SLOW, ({ spec }) => {
  const n = frameCount(spec);
  const gop = spec.gop ?? 25;

  it('carries the frame number in every sampled frame (decoded from the start, no seeking)', async () => {
    const path = await fixture(spec);
    const wanted = [...new Set([0, 1, 2, gop - 1, gop, gop + 1, Math.floor(n / 2) + 3, n - 2, n - 1])];
    const images = await extractFrames(path, wanted);
    expect(await Promise.all(images.map((img) => readFrameIndex(img)))).toEqual(wanted);
    for (const img of images) expect(await isUpright(img)).toBe(true);
    // Real decoded frames survive server-style resizing and recompression too.
    const mid = images[6]!;
    expect(await readFrameIndex(await degrade(mid, 160, 120))).toBe(wanted[6]);
    expect(await readFrameIndex(await degrade(mid, 97, 301))).toBe(wanted[6]);
  });

  it('has keyframes exactly at multiples of the gop, and the requested B-frames', async () => {
    const path = await fixture(spec);
    const frames = await framesOf(path);
    expect(frames).toHaveLength(n);
    const expected = frames.filter((f) => f.index % gop === 0).map((f) => f.index);
    expect(frames.filter((f) => f.keyframe).map((f) => f.index)).toEqual(expected);
    expect(frames.some((f) => f.pictType === 'B')).toBe((spec.bframes ?? 0) > 0);
    // Packet flags agree (ordered by pts; AVI packets carry no pts when there are B-frames).
    const packets = await probePackets(path);
    expect(packets).toHaveLength(n);
    expect(packets.filter((p) => p.keyframe)).toHaveLength(expected.length);
    if (packets.every((p) => p.pts !== null)) {
      const byPts = [...packets].sort((a, b) => a.pts! - b.pts!);
      expect(byPts.flatMap((p, i) => (p.keyframe ? [i] : []))).toEqual(expected);
    }
  });

  it('has the promised stream parameters and start time', async () => {
    const path = await fixture(spec);
    const { streams } = await probe(path);
    const v = streams.find((s) => s.codec_type === 'video')!;
    expect([v.width, v.height]).toEqual([spec.width ?? 320, spec.height ?? 240]);
    expect(v.codec_name).toBe(spec.codec);
    expect(v.pix_fmt).toBe(spec.bitDepth === 10 ? 'yuv420p10le' : 'yuv420p');
    if (spec.bitDepth === 10 && PROFILES[spec.codec]) expect(v.profile).toBe(PROFILES[spec.codec]);
    if (v.sample_aspect_ratio !== undefined) expect(['1:1', '0:1']).toContain(v.sample_aspect_ratio);
    expect(streams.some((s) => s.codec_type === 'audio')).toBe(spec.audio ?? false);
    expect(await probeRotation(path)).toBe(0);
    const first = (await framesOf(path))[0]!.pts!;
    if (spec.container === 'ts') {
      // MPEG-TS keeps ffmpeg's default offset (1.4 s, plus the B-frame reorder delay).
      expect(first).toBeGreaterThanOrEqual(1.4);
      expect(first).toBeLessThan(1.6);
    } else {
      // Others start at 0, give or take a B-frame delay (flv, avi) or opus pre-skip (webm).
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first).toBeLessThan(0.1);
    }
  });
});

describe('rotated fixtures', SLOW, () => {
  it.each([
    { container: 'mp4', rotate: 90 },
    { container: 'mov', rotate: 270 },
    { container: 'mp4', rotate: 180 },
  ] as const)('$container rotate=$rotate', async ({ container, rotate }) => {
    const path = await fixture({ container, codec: 'h264', rotate });
    expect(await probeRotation(path)).toBe(rotate);
    const v = (await probe(path)).streams.find((s) => s.codec_type === 'video')!;
    const matrix = v.side_data_list?.find((d) => d.side_data_type === 'Display Matrix');
    const tag = v.tags?.rotate;
    // Newer ffprobe: Display Matrix side data (counter-clockwise); older: the clockwise tag.
    expect(matrix !== undefined || tag !== undefined).toBe(true);
    if (matrix) expect((((matrix.rotation ?? 0) % 360) + 360 + rotate) % 360).toBe(0);

    const [raw] = await extractFrames(path, [30], { autorotate: false });
    expect(await readFrameCode(raw!)).toEqual({ index: 30, orientation: 0 });
    expect(await isUpright(raw!)).toBe(true);

    const [auto] = await extractFrames(path, [30]);
    expect(await isUpright(auto!)).toBe(false);
    expect(await readFrameCode(auto!)).toEqual({ index: 30, orientation: rotate });
    const meta = await sharp(auto!).metadata();
    expect([meta.width, meta.height]).toEqual(rotate === 180 ? [320, 240] : [240, 320]);
  });

  it('refuses rotation metadata outside mp4/mov', async () => {
    await expect(fixture({ container: 'mkv', codec: 'h264', rotate: 90 })).rejects.toThrow(/mp4\/mov/);
  });
});

describe('audio fixtures', SLOW, () => {
  it('mp3 with an embedded cover reading 4242', async () => {
    const path = await audioFixture({ cover: true });
    const { streams, format } = await probe(path);
    const audio = streams.find((s) => s.codec_type === 'audio')!;
    const cover = streams.find((s) => s.codec_type === 'video')!;
    expect(audio.codec_name).toBe('mp3');
    expect(cover.codec_name).toBe('mjpeg');
    expect(cover.disposition?.attached_pic).toBe(1);
    expect([cover.width, cover.height]).toEqual([200, 150]);
    expect(Number(format.duration)).toBeCloseTo(3, 0);
    const [img] = await extractFrames(path, [0]);
    expect(await readFrameIndex(img!)).toBe(COVER_INDEX);
    expect(COVER_INDEX).toBe(4242);
  });

  it('mp3 without a cover has no video stream', async () => {
    const { streams } = await probe(await audioFixture({ cover: false }));
    expect(streams.map((s) => s.codec_type)).toEqual(['audio']);
  });
});

describe('scene-cut fixture', SLOW, () => {
  it('is static within scenes and changes a lot at each cut', async () => {
    const { path, cutsAtSeconds, cutFrames, frames, fps } = await sceneCutFixture();
    expect(cutsAtSeconds).toEqual([0, 3, 7, 10]);
    expect(cutFrames).toEqual(cutsAtSeconds.map((s) => s * fps));
    expect(await keyframeIndices(path)).toEqual([0, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 275]);
    // First, a middle and the last frame of every scene.
    const bounds = [...cutFrames, frames];
    const wanted = cutFrames.flatMap((start, i) => [start, Math.floor((start + bounds[i + 1]!) / 2), bounds[i + 1]! - 1]);
    const hashes = await Promise.all((await extractFrames(path, wanted, { format: 'png' })).map(dhash));
    for (let s = 0; s < cutFrames.length; s++) {
      const [a, b, c] = hashes.slice(s * 3, s * 3 + 3) as [string, string, string];
      expect(hamming(a, b)).toBeLessThanOrEqual(2);
      expect(hamming(a, c)).toBeLessThanOrEqual(2);
      if (s > 0) expect(hamming(hashes[s * 3 - 1]!, a)).toBeGreaterThanOrEqual(20);
    }
  });
});

describe('the kit itself', () => {
  it('runs FFmpeg 8 in this process through node-av, and never a binary', async () => {
    expect(ffmpegLibraryVersion()[0]).toBeGreaterThanOrEqual(8);
    for (const file of ['./fixtures.ts', '../../src/media/synthesize.ts']) {
      const source = await readFile(new URL(file, import.meta.url), 'utf8');
      expect(source, file).not.toMatch(/child_process|execFile|spawn\(|ffmpegPath|binaries\.js/);
    }
  });
});

describe('HDR fixtures made from one SDR master', SLOW, () => {
  /** Boxes in the middle of the 16 code stripes (40 px wide, rows 0-31 of the code band). */
  const stripes = (code: Box): Box[] =>
    Array.from({ length: 16 }, (_, bit) => ({ x: code.x + (bit * code.width) / 16 + 10, y: code.y + 8, width: 20, height: 16 }));

  /** The frame code read from stored luma: a stripe is set when it is nearer the white code than black. */
  async function lumaFrameIndex(path: string, index: number, code: Box, white: number, black: number): Promise<number> {
    const means = await meanLumas(path, index, stripes(code));
    let value = 0;
    means.forEach((m, bit) => {
      expect(Math.min(Math.abs(m - white), Math.abs(m - black)), `stripe ${bit}: ${m}`).toBeLessThan((white - black) / 6);
      if (Math.abs(m - white) < Math.abs(m - black)) value |= 1 << bit;
    });
    return value;
  }

  it('the SDR master: BT.709 8-bit H.264, white 235, frame code readable', async () => {
    const f = await hdrFixture('sdr');
    expect(f.path).toBe(f.master);
    const v = (await probe(f.path)).streams[0]!;
    expect(v).toMatchObject({ codec_name: 'h264', pix_fmt: 'yuv420p', width: 640, height: 360 });
    expect([v.color_primaries, v.color_transfer, v.color_space, v.color_range]).toEqual(['bt709', 'bt709', 'bt709', 'tv']);
    const [white] = await meanLumas(f.path, 37, [f.white]);
    expect(Math.abs(white! - 235)).toBeLessThanOrEqual(1.5);
    const [img] = await extractFrames(f.path, [37], { format: 'png' });
    const band = await sharp(img!).extract({ left: f.code.x, top: f.code.y, width: f.code.width, height: f.code.height }).png().toBuffer();
    expect(await readFrameIndex(band)).toBe(37);
    expect(await keyframeIndices(f.path)).toEqual([0, 25, 50, 75]);
  });

  it.each(['hdr10', 'hlg'] as const)('%s: HEVC Main 10, BT.2020, SDR white at 203 cd/m², frame for frame the master', async (kind) => {
    const f = await hdrFixture(kind);
    const { streams } = await probe(f.path);
    const v = streams[0]!;
    expect(streams).toHaveLength(1);
    expect(v).toMatchObject({ codec_name: 'hevc', profile: 'Main 10', pix_fmt: 'yuv420p10le', width: 640, height: 360 });
    const transfer = kind === 'hdr10' ? 'smpte2084' : 'arib-std-b67';
    expect([v.color_primaries, v.color_transfer, v.color_space, v.color_range]).toEqual(['bt2020', transfer, 'bt2020nc', 'tv']);
    // The decoder sees the same tags in the bitstream (VUI).
    const decoded = await probeDecodedFrame(f.path);
    expect([decoded.color_primaries, decoded.color_transfer, decoded.color_space, decoded.color_range]).toEqual(['bt2020', transfer, 'bt2020nc', 'tv']);

    if (kind === 'hdr10') {
      // Container side data (mdcv/clli boxes) and SEI in the bitstream.
      const md = v.side_data_list?.find((d) => d.side_data_type === 'Mastering display metadata');
      expect(md).toMatchObject({
        red_x: '34000/50000', red_y: '16000/50000', green_x: '13250/50000', green_y: '34500/50000',
        blue_x: '7500/50000', blue_y: '3000/50000', white_point_x: '15635/50000', white_point_y: '16450/50000',
        min_luminance: '1/10000', max_luminance: '10000000/10000',
      });
      expect(v.side_data_list?.find((d) => d.side_data_type === 'Content light level metadata')).toMatchObject({ max_content: 203, max_average: f.contentLight!.maxFall });
      expect(decoded.masteringDisplay?.maxLuminance).toBe(1000);
      expect(decoded.masteringDisplay?.minLuminance).toBeCloseTo(0.0001, 6);
      expect(decoded.masteringDisplay?.red[0]).toBeCloseTo(0.68, 4);
      expect(decoded.contentLight).toEqual({ maxCll: 203, maxFall: f.contentLight!.maxFall });
    } else {
      expect(v.side_data_list ?? []).toEqual([]);
      expect(decoded.masteringDisplay).toBeUndefined();
    }

    // BT.2408: SDR reference white at 203 cd/m² is PQ 58% (10-bit code ≈ 572) and HLG 75% (code 721).
    expect(f.whiteCode).toBeCloseTo(kind === 'hdr10' ? 572.7 : 720.9, 1);
    const [white] = await meanLumas(f.path, 37, [f.white]);
    console.log(`${kind}: white patch luma ${white!.toFixed(1)} (expected ${f.whiteCode.toFixed(1)})`);
    expect(Math.abs(white! - f.whiteCode)).toBeLessThanOrEqual(2);

    expect(await keyframeIndices(f.path)).toEqual([0, 25, 50, 75]);
    for (const index of [0, 37, 99]) expect(await lumaFrameIndex(f.path, index, f.code, f.whiteCode, 64)).toBe(index);
  });
});
