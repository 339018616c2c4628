// Test-fixture kit: synthetic videos whose every frame carries its own frame number, so a test can
// prove WHICH frame an image came from, plus probes for keyframes / rotation / timestamps.
//
// Pixel scheme ("frame code"): each frame is rendered at 16x2 and scaled up with nearest neighbour.
// The top half is 16 vertical stripes; stripe i (counted from the left) is white when bit i of the
// frame number is set, black otherwise. The bottom half is uniform mid-grey. `readFrameIndex` samples
// the middle of each stripe, so it survives resizing (including anisotropic stretching), JPEG/WebP
// compression and rotation by multiples of 90 degrees (the grey half tells the orientation).
//
// Files are generated once into test/.fixtures/ (gitignored) under a name derived from the spec;
// generation writes a temp file and renames it, so concurrent vitest workers never see half files.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { resolveBinaries, type Binaries, type Binary } from '../../src/media/binaries.js';

const execFileP = promisify(execFile);

/** Bump when the generation recipe changes, so stale cached files are not reused. */
const RECIPE = 'v1';

/** Absolute path of the fixture cache directory (gitignored). */
export const FIXTURE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '.fixtures');

/** Number of bits (stripes) in the frame code: indices 0..65535. */
export const CODE_BITS = 16;

// ---------------------------------------------------------------------------------------------
// Binaries

let binaries: Binaries | undefined;

export function fixtureBinaries(): Binaries {
  binaries ??= resolveBinaries({
    ffmpeg: process.env.STILLFRAME_FFMPEG,
    ffprobe: process.env.STILLFRAME_FFPROBE,
  });
  return binaries;
}

export function ffmpegPath(): string {
  return fixtureBinaries().ffmpeg.path;
}

export function ffprobePath(): string {
  return fixtureBinaries().ffprobe.path;
}

/** [major, minor] of the ffmpeg the kit runs (git snapshots mapped to their release line). */
export function ffmpegVersion(): [number, number] {
  return fixtureBinaries().ffmpeg.version;
}

function atLeast(bin: Binary, major: number, minor = 0): boolean {
  const [ma, mi] = bin.version;
  return ma > major || (ma === major && mi >= minor);
}

/**
 * Output options that make ffmpeg write every selected frame exactly once, with no duplication
 * or dropping: `-fps_mode passthrough` on ffmpeg >= 5.1, `-vsync 0` before that.
 */
export function passthroughArgs(): string[] {
  return atLeast(fixtureBinaries().ffmpeg, 5, 1) ? ['-fps_mode', 'passthrough'] : ['-vsync', '0'];
}

// The static johnvansickle builds (our 2023 ffprobe) carry a static glibc whose iconv loads gconv
// modules at run time; without GCONV_PATH they segfault (exit 139, no message) on every MPEG-TS
// file, when decoding the SDT service name. Point them at the host's modules when present.
const GCONV_DIRS = ['/usr/lib/x86_64-linux-gnu/gconv', '/usr/lib/aarch64-linux-gnu/gconv', '/usr/lib64/gconv', '/usr/lib/gconv'];
const childEnv: NodeJS.ProcessEnv = { ...process.env };
if (!childEnv.GCONV_PATH) {
  const dir = GCONV_DIRS.find((d) => existsSync(join(d, 'gconv-modules')) || existsSync(join(d, 'gconv-modules.d')));
  if (dir) childEnv.GCONV_PATH = dir;
}

async function run(bin: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(bin, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', env: childEnv });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: number | string; signal?: string };
    const why = e.stderr?.trim() || (e.signal ? `killed by ${e.signal}` : `exit ${e.code}`);
    throw new Error(`${bin} ${args.join(' ')} failed: ${why}`);
  }
}

/** Runs ffmpeg with `-hide_banner -loglevel error -nostdin -y` prepended; returns stdout. */
export function runFfmpeg(args: string[]): Promise<string> {
  return run(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
}

/** Runs ffprobe with `-v error -of json` and parses the output. */
export async function runFfprobe(args: string[]): Promise<unknown> {
  return JSON.parse(await run(ffprobePath(), ['-hide_banner', '-v', 'error', '-of', 'json', ...args]));
}

// ---------------------------------------------------------------------------------------------
// Frame arithmetic

/** Index of the frame shown at `ms` for CFR content whose first frame is at 0. */
export function frameAt(ms: number, fps = 25): number {
  return Math.floor((ms * fps) / 1000 + 1e-9);
}

/** Presentation time (ms, relative to the first frame) of frame `index`. */
export function frameTimeMs(index: number, fps = 25): number {
  return (index * 1000) / fps;
}

/** Middle of frame `index`'s display interval (ms): a seek target far from any rounding edge. */
export function frameMidMs(index: number, fps = 25): number {
  return ((index + 0.5) * 1000) / fps;
}

/** The keyframe at or before `index` for a fixed GOP (keyframes at 0, gop, 2*gop, ...). */
export function keyframeAtOrBefore(index: number, gop = 25): number {
  return index - (index % gop);
}

/** The keyframe at or after `index` for a fixed GOP (may be past the end of the file). */
export function keyframeAtOrAfter(index: number, gop = 25): number {
  return index % gop === 0 ? index : index - (index % gop) + gop;
}

// ---------------------------------------------------------------------------------------------
// Fixture videos

export type Container = 'mp4' | 'mov' | 'mkv' | 'webm' | 'ts' | 'avi' | 'flv';
export type VideoCodec = 'h264' | 'hevc' | 'vp9' | 'vp8' | 'mpeg4' | 'flv1';
export type Rotation = 0 | 90 | 180 | 270;

export interface FixtureSpec {
  container: Container;
  codec: VideoCodec;
  /** Frames per second (CFR). Default 25. */
  fps?: number;
  /** Duration in seconds; the file has round(fps * seconds) frames. Default 4. */
  seconds?: number;
  /** Keyframe interval in frames, fixed (no scene-cut keyframes). Default 25. */
  gop?: number;
  /** Consecutive B-frames (h264/hevc/mpeg4 only). Default 0. */
  bframes?: number;
  /** Default 320. */
  width?: number;
  /** Default 240. */
  height?: number;
  /**
   * Display rotation metadata, mp4/mov only, in the convention of the legacy `rotate` tag: degrees
   * CLOCKWISE a player turns the stored picture to display it (phone portrait video: 90). ffprobe
   * shows it as `tags.rotate = "90"` and/or a Display Matrix side data `rotation: -90` (CCW).
   * The stored pixels are always upright; only the metadata differs.
   */
  rotate?: Rotation;
  /** Add a sine audio track (aac; opus in webm; mp3 in avi). Default false. */
  audio?: boolean;
}

export type ResolvedSpec = Required<FixtureSpec>;

export function resolveSpec(spec: FixtureSpec): ResolvedSpec {
  const s: ResolvedSpec = {
    fps: 25,
    seconds: 4,
    gop: 25,
    bframes: 0,
    width: 320,
    height: 240,
    rotate: 0,
    audio: false,
    ...stripUndefined(spec),
  };
  if (s.container === 'webm' && s.codec !== 'vp9' && s.codec !== 'vp8') {
    throw new Error(`webm holds vp8/vp9 only, not ${s.codec}`);
  }
  if (s.container === 'flv' && s.codec !== 'h264' && s.codec !== 'flv1') {
    throw new Error(`flv fixtures are h264 or flv1, not ${s.codec}`);
  }
  if (s.rotate !== 0 && s.container !== 'mp4' && s.container !== 'mov') {
    throw new Error(`rotation metadata is only generated for mp4/mov, not ${s.container}`);
  }
  if (s.bframes > 0 && !['h264', 'hevc', 'mpeg4'].includes(s.codec)) {
    throw new Error(`${s.codec} has no B-frames`);
  }
  if (frameCount(s) > 2 ** CODE_BITS) throw new Error('too many frames for a 16-bit frame code');
  if (s.width % 2 || s.height % 2) throw new Error('width and height must be even (yuv420p)');
  return s;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Number of frames a spec produces. */
export function frameCount(spec: FixtureSpec): number {
  return Math.round((spec.fps ?? 25) * (spec.seconds ?? 4));
}

/** File name (no directory) of the cached fixture for a spec. */
export function fixtureName(spec: FixtureSpec): string {
  const s = resolveSpec(spec);
  const parts = [
    s.codec,
    `${s.fps}fps`,
    `${s.seconds}s`,
    `g${s.gop}`,
    `b${s.bframes}`,
    `${s.width}x${s.height}`,
    s.rotate ? `rot${s.rotate}` : '',
    s.audio ? 'audio' : '',
    RECIPE,
  ].filter(Boolean);
  return `${parts.join('-')}.${s.container}`;
}

const MUXER: Record<Container, string> = {
  mp4: 'mp4', mov: 'mov', mkv: 'matroska', webm: 'webm', ts: 'mpegts', avi: 'avi', flv: 'flv',
};

/** The geq expression that draws the frame code of frame N on a 16x2 canvas. */
const CODE_GEQ = "geq=lum='if(lt(Y,1),if(bitand(N,pow(2,X)),235,16),128)':cb=128:cr=128";

function videoCodecArgs(s: ResolvedSpec): string[] {
  const g = String(s.gop);
  switch (s.codec) {
    case 'h264':
      return [
        '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-profile:v', 'high',
        // min-keyint is clamped by x264 to keyint/2+1, but with scenecut=0 nothing but keyint places
        // IDRs. b-adapt=0 makes x264 really use the requested B-frames instead of deciding per frame.
        '-x264-params', `keyint=${g}:min-keyint=${g}:scenecut=0:open-gop=0:bframes=${s.bframes}:b-adapt=0`,
      ];
    case 'hevc':
      return [
        '-c:v', 'libx265', '-preset', 'fast', '-crf', '18',
        '-x265-params',
        `keyint=${g}:min-keyint=${g}:scenecut=0:open-gop=0:bframes=${s.bframes}:b-adapt=0:log-level=error`,
        ...(s.container === 'mp4' || s.container === 'mov' ? ['-tag:v', 'hvc1'] : []),
      ];
    case 'vp9':
      return [
        '-c:v', 'libvpx-vp9', '-deadline', 'good', '-cpu-used', '5', '-crf', '12', '-b:v', '0',
        '-g', g, '-keyint_min', g, '-row-mt', '1',
      ];
    case 'vp8':
      return [
        '-c:v', 'libvpx', '-deadline', 'good', '-cpu-used', '5', '-b:v', '4M', '-qmin', '0', '-qmax', '12',
        '-g', g, '-keyint_min', g,
      ];
    case 'mpeg4':
      // mpegvideo encoders put an I-frame on "scene changes" unless the threshold is out of reach,
      // and with B-frames their own GOP counter drifts (I at 0, 25, 49, 73, ...): force the I-frames.
      return ['-c:v', 'mpeg4', '-q:v', '2', '-bf', String(s.bframes), ...mpegvideoGop(s.gop)];
    case 'flv1':
      return ['-c:v', 'flv', '-q:v', '2', ...mpegvideoGop(s.gop)];
  }
}

function mpegvideoGop(gop: number): string[] {
  return ['-g', '100000', '-sc_threshold', '1000000000', '-force_key_frames', `expr:eq(mod(n,${gop}),0)`];
}

function audioArgs(container: Container): string[] {
  if (container === 'webm') return ['-c:a', 'libopus', '-b:a', '64k'];
  if (container === 'avi') return ['-c:a', 'libmp3lame', '-b:a', '64k'];
  return ['-c:a', 'aac', '-b:a', '64k'];
}

const inflight = new Map<string, Promise<string>>();

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Generates `name` in FIXTURE_DIR once: `make(tmpPath)` writes a temp file that is renamed into
 * place. Returns the absolute path. Safe across concurrent workers and processes.
 */
async function cached(name: string, make: (tmp: string) => Promise<void>): Promise<string> {
  const path = join(FIXTURE_DIR, name);
  let p = inflight.get(path);
  if (!p) {
    p = (async () => {
      if (await exists(path)) return path;
      await mkdir(FIXTURE_DIR, { recursive: true });
      // Keep the real extension last: some tools infer the format from it.
      const dot = name.lastIndexOf('.');
      const tmp = join(FIXTURE_DIR, `${name.slice(0, dot)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}${name.slice(dot)}`);
      try {
        await make(tmp);
        await rename(tmp, path);
      } finally {
        await rm(tmp, { force: true });
      }
      return path;
    })();
    inflight.set(path, p);
    p.catch(() => inflight.delete(path));
  }
  return p;
}

/** Generates (once) the fixture video described by `spec` and returns its absolute path. */
export async function fixture(spec: FixtureSpec): Promise<string> {
  const s = resolveSpec(spec);
  if (s.rotate !== 0) return rotatedFixture(s);
  return cached(fixtureName(s), async (tmp) => {
    const frames = frameCount(s);
    const args = ['-f', 'lavfi', '-i', `color=c=gray:s=16x2:r=${s.fps}`];
    if (s.audio) {
      args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${s.seconds}`);
    }
    args.push(
      '-map', '0:v',
      ...(s.audio ? ['-map', '1:a'] : []),
      '-vf', `format=yuv444p,${CODE_GEQ},scale=${s.width}:${s.height}:flags=neighbor,setsar=1,format=yuv420p`,
      '-frames:v', String(frames),
      ...videoCodecArgs(s),
      ...(s.audio ? audioArgs(s.container) : ['-an']),
      '-f', MUXER[s.container],
      tmp,
    );
    await runFfmpeg(args);
  });
}

async function rotatedFixture(s: ResolvedSpec): Promise<string> {
  const base = await fixture({ ...s, rotate: 0 });
  return cached(fixtureName(s), async (tmp) => {
    // Both option forms below take COUNTER-clockwise degrees and end in the same
    // av_display_rotation_set(matrix, -value), so ffprobe's Display Matrix `rotation` reads back
    // +value. (On a stream copy, ffmpeg 4.x/5.x's `-metadata:s:v rotate=V` does NOT mean the
    // clockwise `rotate` tag that demuxers report: the 4.1 demuxer reads such a file back as
    // rotate=360-V.) Spec rotation R is clockwise, hence V = 360 - R.
    const ccw = String((360 - s.rotate) % 360);
    const args = atLeast(fixtureBinaries().ffmpeg, 6)
      ? // ffmpeg >= 6: no more `rotate` tag handling; -display_rotation is an input option that
        // sets the stream's display matrix, which a stream copy writes to the output.
        ['-display_rotation:v:0', ccw, '-i', base, '-map', '0', '-c', 'copy']
      : // ffmpeg 4.x/5.x: the CLI turns the output stream tag into display-matrix side data.
        ['-i', base, '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${ccw}`];
    await runFfmpeg([...args, '-f', MUXER[s.container], tmp]);
    const got = await probeRotation(tmp);
    if (got !== s.rotate) throw new Error(`rotation metadata not written: wanted ${s.rotate}, ffprobe says ${got}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Special fixtures

/** Frame index encoded in the cover picture of `audioFixture({cover: true})`. */
export const COVER_INDEX = 4242;

/**
 * A 3 s MP3 (libmp3lame, 440 Hz sine). With `cover`, an embedded 200x150 JPEG cover (ID3v2 APIC,
 * demuxed as an attached_pic video stream) showing the frame code of COVER_INDEX (4242).
 */
export async function audioFixture(opts: { cover: boolean }): Promise<string> {
  const name = `audio-3s${opts.cover ? '-cover' : ''}-${RECIPE}.mp3`;
  return cached(name, async (tmp) => {
    const args = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=3'];
    let coverTmp: string | undefined;
    if (opts.cover) {
      coverTmp = `${tmp}.cover.jpg`;
      await writeFile(coverTmp, await codeImage(COVER_INDEX, { width: 200, height: 150, format: 'jpeg', quality: 90 }));
      args.push('-i', coverTmp, '-map', '0:a', '-map', '1:v', '-c:v', 'copy', '-disposition:v', 'attached_pic',
        '-metadata:s:v', 'title=Album cover', '-metadata:s:v', 'comment=Cover (front)');
    } else {
      args.push('-map', '0:a');
    }
    args.push('-c:a', 'libmp3lame', '-b:a', '96k', '-id3v2_version', '3', '-f', 'mp3', tmp);
    try {
      await runFfmpeg(args);
    } finally {
      if (coverTmp) await rm(coverTmp, { force: true });
    }
  });
}

export interface SceneCutFixture {
  path: string;
  /** Start of each scene, seconds from the first frame (the first scene starts at 0). */
  cutsAtSeconds: number[];
  /** The same cuts as frame indices. */
  cutFrames: number[];
  fps: number;
  seconds: number;
  frames: number;
}

/**
 * 12 s, 25 fps, 320x240 h264 mp4 (gop 25) made of 4 static scenes starting at 0, 3, 7 and 10 s:
 *   0: horizontal ramp dark→bright, reddish    1: ramp bright→dark, bluish
 *   2: 8x8 checkerboard, grey                  3: top half ramp up / bottom half ramp down, greenish
 * Frames within a scene are identical (no motion, no noise); only the cuts change the picture, and
 * every pair of neighbouring scenes differs in most bits of a 64-bit dHash.
 */
export async function sceneCutFixture(): Promise<SceneCutFixture> {
  const fps = 25;
  const seconds = 12;
  const cutsAtSeconds = [0, 3, 7, 10];
  const [, c1, c2, c3] = cutsAtSeconds.map((t) => t * fps) as [number, number, number, number];
  const byScene = (a: string, b: string, c: string, d: string) =>
    `if(lt(N,${c1}),${a},if(lt(N,${c2}),${b},if(lt(N,${c3}),${c},${d})))`;
  const lum = byScene(
    '16+X*14',
    '226-X*14',
    'if(mod(floor(X/2)+floor(Y/2),2),235,16)',
    'if(lt(Y,8),16+X*14,226-X*14)',
  );
  const cb = byScene('90', '200', '128', '70');
  const cr = byScene('200', '90', '128', '70');
  const path = await cached(`scenecut-${fps}fps-${seconds}s-${RECIPE}.mp4`, async (tmp) => {
    await runFfmpeg([
      '-f', 'lavfi', '-i', `color=c=gray:s=16x16:r=${fps}`,
      '-vf', `format=yuv444p,geq=lum='${lum}':cb='${cb}':cr='${cr}',scale=320:240:flags=neighbor,setsar=1,format=yuv420p`,
      '-frames:v', String(fps * seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18',
      '-x264-params', 'keyint=25:min-keyint=25:scenecut=0:bframes=0',
      '-an', '-f', 'mp4', tmp,
    ]);
  });
  return { path, cutsAtSeconds, cutFrames: cutsAtSeconds.map((t) => t * fps), fps, seconds, frames: fps * seconds };
}

// ---------------------------------------------------------------------------------------------
// Frame code images (reading and drawing)

export type ImageInput = Buffer | string;

/**
 * Clockwise rotation of a code picture relative to upright: 0 = stripes on top, grey at the bottom;
 * 90 = the picture turned a quarter clockwise (stripes on the right, bit 0 at the top); 180 =
 * upside down; 270 = a quarter counter-clockwise. A fixture with `rotate: R` decoded with ffmpeg's
 * default autorotation yields orientation R.
 */
export interface FrameCode {
  index: number;
  orientation: Rotation;
}

interface Grey {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

async function toGrey(image: ImageInput): Promise<Grey> {
  // Raw stored pixels: EXIF orientation is deliberately NOT applied.
  const { data, info } = await sharp(image).removeAlpha().greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Mean of the box [x0,x1) x [y0,y1) given as fractions of the image size (at least one pixel). */
function boxMean(g: Grey, fx0: number, fx1: number, fy0: number, fy1: number): number {
  const x0 = Math.min(g.width - 1, Math.floor(fx0 * g.width));
  const x1 = Math.max(x0 + 1, Math.min(g.width, Math.ceil(fx1 * g.width)));
  const y0 = Math.min(g.height - 1, Math.floor(fy0 * g.height));
  const y1 = Math.max(y0 + 1, Math.min(g.height, Math.ceil(fy1 * g.height)));
  let sum = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) sum += g.data[(y * g.width + x) * g.channels] ?? 0;
  }
  return sum / ((x1 - x0) * (y1 - y0));
}

/** Mean absolute deviation from mid-grey over a grid of samples inside a box (fractions). */
function greyness(g: Grey, fx0: number, fx1: number, fy0: number, fy1: number): number {
  const n = 12;
  let dev = 0;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = Math.min(g.width - 1, Math.floor((fx0 + ((fx1 - fx0) * (i + 0.5)) / n) * g.width));
      const y = Math.min(g.height - 1, Math.floor((fy0 + ((fy1 - fy0) * (j + 0.5)) / n) * g.height));
      dev += Math.abs((g.data[(y * g.width + x) * g.channels] ?? 0) - 128);
    }
  }
  return dev / (n * n);
}

/** Decodes the frame code (index and orientation) of a jpg/png/webp image. Throws if there is none. */
export async function readFrameCode(image: ImageInput): Promise<FrameCode> {
  const g = await toGrey(image);
  // The uniform mid-grey half tells the orientation (margins keep away from edges and the seam).
  const halves: [Rotation, number][] = [
    [0, greyness(g, 0.1, 0.9, 0.6, 0.9)], // grey at the bottom: upright
    [90, greyness(g, 0.1, 0.4, 0.1, 0.9)], // grey on the left
    [180, greyness(g, 0.1, 0.9, 0.1, 0.4)], // grey on top
    [270, greyness(g, 0.6, 0.9, 0.1, 0.9)], // grey on the right
  ];
  halves.sort((a, b) => a[1] - b[1]);
  const [orientation, dev] = halves[0]!;
  if (dev > 40 || halves[1]![1] - dev < 30) {
    throw new Error(`not a frame-code picture (${g.width}x${g.height}): no uniform grey half (${halves.map(([o, d]) => `${o}:${d.toFixed(0)}`).join(' ')})`);
  }
  let index = 0;
  const values: number[] = [];
  for (let bit = 0; bit < CODE_BITS; bit++) {
    // Position of stripe `bit` along the stripe axis, as a fraction, and its middle half.
    const a0 = (bit + 0.3) / CODE_BITS;
    const a1 = (bit + 0.7) / CODE_BITS;
    let v: number;
    switch (orientation) {
      case 0: v = boxMean(g, a0, a1, 0.12, 0.38); break;
      case 90: v = boxMean(g, 0.62, 0.88, a0, a1); break;
      case 180: v = boxMean(g, 1 - a1, 1 - a0, 0.62, 0.88); break;
      case 270: v = boxMean(g, 0.12, 0.38, 1 - a1, 1 - a0); break;
    }
    values.push(Math.round(v));
    if (v > 128) index |= 1 << bit;
  }
  const unclear = values.filter((v) => v > 64 && v < 192);
  if (unclear.length) {
    throw new Error(`frame code unclear (stripe means ${values.join(',')}): blended or damaged frame?`);
  }
  return { index, orientation };
}

/**
 * The frame index encoded in an image (any orientation; any size with at least ~64 px along the
 * stripe axis, i.e. 4 px per stripe; jpg/png/webp down to quality ~30). Throws when the picture
 * has no frame code or a stripe is neither black nor white (e.g. a blend of two frames).
 */
export async function readFrameIndex(image: ImageInput): Promise<number> {
  return (await readFrameCode(image)).index;
}

/** True when the code stripes are in the top half and the bottom half is uniform grey. */
export async function isUpright(image: ImageInput): Promise<boolean> {
  return (await readFrameCode(image)).orientation === 0;
}

/** Raw single-channel pixels of the frame code of `index` (same layout as the videos). */
export function codeRaw(index: number, width = 320, height = 240): Buffer {
  const buf = Buffer.alloc(width * height, 128);
  const half = Math.floor(height / 2);
  for (let y = 0; y < half; y++) {
    for (let x = 0; x < width; x++) {
      const bit = Math.min(CODE_BITS - 1, Math.floor((x * CODE_BITS) / width));
      buf[y * width + x] = (index >> bit) & 1 ? 255 : 0;
    }
  }
  return buf;
}

/** An encoded (RGB) image of the frame code of `index`, e.g. for unit tests without ffmpeg. */
export async function codeImage(
  index: number,
  opts: { width?: number; height?: number; format?: 'png' | 'jpeg' | 'webp'; quality?: number } = {},
): Promise<Buffer> {
  const { width = 320, height = 240, format = 'png', quality = 90 } = opts;
  const img = sharp(codeRaw(index, width, height), { raw: { width, height, channels: 1 } }).toColourspace('srgb');
  if (format === 'jpeg') return img.jpeg({ quality }).toBuffer();
  if (format === 'webp') return img.webp({ quality }).toBuffer();
  return img.png().toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Extraction and probing

/**
 * Decodes `file` from the start (no seeking) and returns the frames with the given decode-output
 * indices as JPEG (or PNG) buffers, in the order of `indices`. `autorotate: false` passes
 * `-noautorotate`.
 */
export async function extractFrames(
  file: string,
  indices: number[],
  opts: { autorotate?: boolean; format?: 'jpg' | 'png' } = {},
): Promise<Buffer[]> {
  const { autorotate = true, format = 'jpg' } = opts;
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const dir = join(FIXTURE_DIR, `extract-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  try {
    const select = sorted.map((k) => `eq(n,${k})`).join('+');
    await runFfmpeg([
      ...(autorotate ? [] : ['-noautorotate']),
      '-i', file,
      '-map', '0:v:0',
      '-vf', `select='${select}'`,
      ...passthroughArgs(),
      '-frames:v', String(sorted.length),
      ...(format === 'jpg' ? ['-q:v', '2'] : []),
      '-f', 'image2', join(dir, `%d.${format}`),
    ]);
    const out = new Map<number, Buffer>();
    for (const [i, k] of sorted.entries()) out.set(k, await readFile(join(dir, `${i + 1}.${format}`)));
    return indices.map((k) => out.get(k)!);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ProbedFrame {
  /** Position in presentation (decoder output) order. */
  index: number;
  /** Presentation time in seconds as stored in the file (not rebased to the first frame). */
  pts: number | null;
  keyframe: boolean;
  pictType: string;
}

function num(v: unknown): number | null {
  if (v === undefined || v === null || v === 'N/A') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Decodes the first video stream with ffprobe and lists its frames in presentation order. */
export async function probeFrames(file: string): Promise<ProbedFrame[]> {
  const out = (await runFfprobe([
    '-select_streams', 'v:0', '-show_frames',
    '-show_entries', 'frame=key_frame,pict_type,pts_time,pkt_pts_time,best_effort_timestamp_time',
    file,
  ])) as { frames?: Record<string, unknown>[] };
  return (out.frames ?? []).map((f, index) => ({
    index,
    pts: num(f.pts_time) ?? num(f.pkt_pts_time) ?? num(f.best_effort_timestamp_time),
    keyframe: Number(f.key_frame) === 1,
    pictType: String(f.pict_type ?? '?'),
  }));
}

export interface ProbedPacket {
  /** Position in file (decode) order. */
  index: number;
  pts: number | null;
  dts: number | null;
  keyframe: boolean;
}

/** Lists the packets of the first video stream in file order (no decoding: fast). */
export async function probePackets(file: string): Promise<ProbedPacket[]> {
  const out = (await runFfprobe([
    '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,dts_time,flags', file,
  ])) as { packets?: Record<string, unknown>[] };
  return (out.packets ?? []).map((p, index) => ({
    index,
    pts: num(p.pts_time),
    dts: num(p.dts_time),
    keyframe: String(p.flags ?? '').includes('K'),
  }));
}

/**
 * Presentation-order indices of the keyframes, from decoded frames (packet pts cannot be used:
 * AVI with B-frames has none).
 */
export async function keyframeIndices(file: string): Promise<number[]> {
  return (await probeFrames(file)).flatMap((f) => (f.keyframe ? [f.index] : []));
}

export interface ProbedStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  display_aspect_ratio?: string;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

/** ffprobe -show_streams -show_format, parsed. */
export async function probe(file: string): Promise<{ streams: ProbedStream[]; format: Record<string, unknown> }> {
  const out = (await runFfprobe(['-show_streams', '-show_format', file])) as {
    streams?: ProbedStream[];
    format?: Record<string, unknown>;
  };
  return { streams: out.streams ?? [], format: out.format ?? {} };
}

/**
 * Display rotation of the first video stream in the legacy `rotate` tag convention (clockwise
 * degrees, 0..359): read from the Display Matrix side data (whose `rotation` is counter-clockwise,
 * e.g. -90 for rotate=90) or else from `tags.rotate`. 0 when there is none.
 */
export async function probeRotation(file: string): Promise<number> {
  const { streams } = await probe(file);
  const v = streams.find((s) => s.codec_type === 'video');
  if (!v) throw new Error(`${file} has no video stream`);
  const matrix = v.side_data_list?.find((d) => d.rotation !== undefined);
  if (matrix?.rotation !== undefined) return (((-matrix.rotation) % 360) + 360) % 360;
  const tag = v.tags?.rotate;
  if (tag !== undefined) return ((Number(tag) % 360) + 360) % 360;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Storage issue: the remaining IMM source formats (WMV, RM, VOB, HLS) and a long 1080p tail-moov MP4

export type LegacyFormat = 'wmv' | 'rm' | 'vob';

const LEGACY: Record<LegacyFormat, { muxer: string; codec: string[] }> = {
  // Windows Media Video 8 in ASF, RealVideo 1.0 in RealMedia, MPEG-2 video in a DVD program stream.
  wmv: { muxer: 'asf', codec: ['-c:v', 'wmv2', '-q:v', '2'] },
  rm: { muxer: 'rm', codec: ['-c:v', 'rv10', '-q:v', '2'] },
  vob: { muxer: 'vob', codec: ['-c:v', 'mpeg2video', '-q:v', '2', '-bf', '0'] },
};

/**
 * A frame-code video (320x240, 25 fps, 4 s = 100 frames, a keyframe every 25) in an older container:
 * `.wmv` (wmv2/asf), `.rm` (rv10/rm) or `.vob` (mpeg2video/vob). Both ffmpeg 4.1 and 5.1 mux these.
 */
export async function legacyFixture(format: LegacyFormat): Promise<string> {
  const { muxer, codec } = LEGACY[format];
  return cached(`legacy-${format}-25fps-4s-g25-320x240-${RECIPE}.${format}`, async (tmp) => {
    await runFfmpeg([
      '-f', 'lavfi', '-i', 'color=c=gray:s=16x2:r=25',
      '-vf', `format=yuv444p,${CODE_GEQ},scale=320:240:flags=neighbor,setsar=1,format=yuv420p`,
      '-frames:v', '100', ...codec, ...mpegvideoGop(25), '-an', '-f', muxer, tmp,
    ]);
  });
}

export interface HlsFixture {
  /** Directory holding the playlist and its segments. */
  dir: string;
  /** File name of the media playlist in `dir`. */
  playlist: string;
  /** File names of the segments, in order. */
  segments: string[];
  fps: number;
  frames: number;
}

/**
 * An HLS VOD: a media playlist `index.m3u8` with 1 s MPEG-TS segments (`seg000.ts` …) beside it, cut from
 * a 6 s frame-code h264 video (320x240, 25 fps, a keyframe every 25 frames = one per segment).
 */
export async function hlsFixture(): Promise<HlsFixture> {
  const name = `hls-h264-25fps-6s-g25-320x240-${RECIPE}`;
  const dir = join(FIXTURE_DIR, name);
  let p = inflight.get(dir);
  if (!p) {
    p = (async () => {
      if (await exists(join(dir, 'index.m3u8'))) return dir;
      await mkdir(FIXTURE_DIR, { recursive: true });
      const tmp = join(FIXTURE_DIR, `${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(tmp);
      try {
        await runFfmpeg([
          '-f', 'lavfi', '-i', 'color=c=gray:s=16x2:r=25',
          '-vf', `format=yuv444p,${CODE_GEQ},scale=320:240:flags=neighbor,setsar=1,format=yuv420p`,
          '-frames:v', '150',
          ...videoCodecArgs(resolveSpec({ container: 'ts', codec: 'h264' })),
          '-an', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', '-hls_playlist_type', 'vod',
          '-hls_segment_filename', join(tmp, 'seg%03d.ts'), join(tmp, 'index.m3u8'),
        ]);
        // A directory renames atomically into place; a concurrent generator that lost the race cleans up.
        await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return dir;
    })();
    inflight.set(dir, p);
    p.catch(() => inflight.delete(dir));
  }
  await p;
  const text = await readFile(join(dir, 'index.m3u8'), 'utf8');
  const segments = text.split('\n').filter((line) => line && !line.startsWith('#'));
  return { dir, playlist: 'index.m3u8', segments, fps: 25, frames: 150 };
}

export interface LongFixture {
  path: string;
  seconds: number;
  fps: number;
  gop: number;
  width: number;
  height: number;
}

/**
 * 300 s of 1080p25 h264 in MP4 with the `moov` index at the END of the file (no faststart), a keyframe
 * every 2 s, ~5 Mbit/s constant bit rate (x264 CBR filler, so the size is that of real footage: ~188 MB)
 * and the frame code in every frame. Generated fast (flat picture, ultrafast preset): ~30 s once.
 */
export async function longTailMoovFixture(): Promise<LongFixture> {
  const spec = { seconds: 300, fps: 25, gop: 50, width: 1920, height: 1080 };
  const path = await cached(`long-h264-1080p25-300s-g50-cbr5m-tailmoov-${RECIPE}.mp4`, async (tmp) => {
    await runFfmpeg([
      '-f', 'lavfi', '-i', `color=c=gray:s=16x2:r=${spec.fps}`,
      '-vf', `format=yuv444p,${CODE_GEQ},scale=${spec.width}:${spec.height}:flags=neighbor,setsar=1,format=yuv420p`,
      '-frames:v', String(spec.seconds * spec.fps),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '5M', '-minrate', '5M', '-maxrate', '5M', '-bufsize', '2M',
      '-x264-params', `keyint=${spec.gop}:min-keyint=${spec.gop}:scenecut=0:nal-hrd=cbr`,
      '-an', '-f', 'mp4', tmp,
    ]);
  });
  return { path, ...spec };
}
