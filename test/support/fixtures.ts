// Test-fixture kit: synthetic videos whose every frame carries its own frame number, so a test can
// prove WHICH frame an image came from, plus probes for keyframes / rotation / timestamps.
//
// Pixel scheme ("frame code"): each frame is rendered at 16x2 and scaled up with nearest neighbour.
// The top half is 16 vertical stripes; stripe i (counted from the left) is white when bit i of the
// frame number is set, black otherwise. The bottom half is uniform mid-grey. `readFrameIndex` samples
// the middle of each stripe, so it survives resizing (including anisotropic stretching), JPEG/WebP
// compression and rotation by multiples of 90 degrees (the grey half tells the orientation).
//
// Everything is made and read in this process with node-av (FFmpeg 8 as a library), through
// src/media/synthesize.ts: the kit needs no ffmpeg or ffprobe binary and starts no process.
//
// What there is:
//   fixture(spec)            frame-code video: mp4/mov/mkv/webm/ts/avi/flv × h264/hevc/vp9/vp8/av1/mpeg4/flv1,
//                            keyframes exactly every `gop` frames (no scene-cut keyframes), B-frames on request,
//                            `bitDepth: 10` (yuv420p10le: H.264 High 10, HEVC Main 10, VP9 profile 2, AV1),
//                            rotation metadata (mp4/mov), an audio track
//   legacyFixture(fmt)       the same picture as WMV (wmv2/asf), RealMedia (rv10) or DVD VOB (mpeg2video)
//   hlsFixture()             an HLS VOD of 1 s MPEG-TS segments
//   longTailMoovFixture()    300 s of 1080p25 H.264 at 5 Mbit/s CBR with the moov index at the end (~188 MB)
//   audioFixture({cover})    a 3 s MP3, with or without an ID3 cover picture showing a frame code
//   sceneCutFixture()        four static scenes with hard cuts between them
//   vfrFixture()             variable frame rate: frames 0–49 last 40 ms, frames 50–99 last 80 ms
//   anamorphicFixture()      160x240 stored pixels with a 2:1 sample aspect ratio (shown 320x240)
//   hugeFrameFixture()       one black 8192x4320 frame
//   lateStartFixture()       1 s of 64x64 video whose timestamps start at 50000 s (the container claims ~13.9 h)
//   hdrFixture(kind)         one SDR BT.709 master ('sdr') and its HDR10 (PQ) and HLG versions, SDR reference
//                            white placed at 203 cd/m² (ITU-R BT.2408): PQ code ≈ 573, HLG code ≈ 721 (10-bit)
//
// Files are generated once into test/.fixtures/ (gitignored) under a name derived from the spec;
// generation writes a temp file and renames it, so concurrent vitest workers never see half files.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Codec,
  CodecContext,
  FFmpegError,
  FormatContext,
  Frame,
  Log,
  Packet,
  SoftwareScaleContext,
  avGetCodecName,
  avGetMediaTypeString,
  avGetPixFmtName,
  getFFmpegInfo,
  type Stream,
} from 'node-av/lib';
import {
  AVERROR_EAGAIN,
  AVERROR_EOF,
  AVMEDIA_TYPE_VIDEO,
  AV_DISPOSITION_ATTACHED_PIC,
  AV_DISPOSITION_DEFAULT,
  AV_FRAME_DATA_CONTENT_LIGHT_LEVEL,
  AV_FRAME_DATA_MASTERING_DISPLAY_METADATA,
  AV_FRAME_FLAG_KEY,
  AV_LOG_ERROR,
  AV_NOPTS_VALUE,
  AV_PIX_FMT_RGB24,
  AV_PKT_DATA_CONTENT_LIGHT_LEVEL,
  AV_PKT_DATA_DISPLAYMATRIX,
  AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
  SWS_BILINEAR,
  type AVPixelFormat,
} from 'node-av/constants';
import sharp from 'sharp';
import {
  filterValue,
  synthesize,
  type AudioTrack,
  type AvOptions,
  type ContentLightLevel,
  type MasteringDisplay,
  type VideoTrack,
} from '../../src/media/synthesize.js';

// The kit decodes in this process too: FFmpeg's warnings (swscale's "deprecated pixel format" for
// JPEG covers, decoder chatter) would land in every test's output.
Log.setLevel(AV_LOG_ERROR);

/** Bump when the generation recipe changes, so stale cached files are not reused. */
const RECIPE = 'v2';

/** Absolute path of the fixture cache directory (gitignored). */
export const FIXTURE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '.fixtures');

/** Number of bits (stripes) in the frame code: indices 0..65535. */
export const CODE_BITS = 16;

/** [major, minor] of the FFmpeg libraries the kit runs (node-av's build). */
export function ffmpegLibraryVersion(): [number, number] {
  const m = /^n?(\d+)\.(\d+)/.exec(getFFmpegInfo().version);
  if (!m) throw new Error(`unparsed FFmpeg version ${getFFmpegInfo().version}`);
  return [Number(m[1]), Number(m[2])];
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
export type VideoCodec = 'h264' | 'hevc' | 'vp9' | 'vp8' | 'av1' | 'mpeg4' | 'flv1';
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
   * CLOCKWISE a player turns the stored picture to display it (phone portrait video: 90). Stored as
   * Display Matrix side data, which ffprobe shows as `rotation: -90` (counter-clockwise).
   * The stored pixels are always upright; only the metadata differs.
   */
  rotate?: Rotation;
  /** Add a sine audio track (aac; opus in webm; mp3 in avi). Default false. */
  audio?: boolean;
  /**
   * Bits per sample: 8 (yuv420p) or 10 (yuv420p10le: H.264 High 10, HEVC Main 10, VP9 profile 2, AV1
   * main). Default 8.
   */
  bitDepth?: 8 | 10;
}

export type ResolvedSpec = Required<FixtureSpec>;

const TEN_BIT_CODECS: readonly VideoCodec[] = ['h264', 'hevc', 'vp9', 'av1'];

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
    bitDepth: 8,
    ...stripUndefined(spec),
  };
  if (s.container === 'webm' && !['vp9', 'vp8', 'av1'].includes(s.codec)) {
    throw new Error(`webm holds vp8/vp9/av1 only, not ${s.codec}`);
  }
  if (s.codec === 'av1' && !['mp4', 'mkv', 'webm'].includes(s.container)) {
    throw new Error(`av1 fixtures are mp4, mkv or webm, not ${s.container}`);
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
  if (s.bitDepth !== 8 && s.bitDepth !== 10) throw new Error(`bitDepth is 8 or 10, not ${String(s.bitDepth)}`);
  if (s.bitDepth === 10 && !TEN_BIT_CODECS.includes(s.codec)) {
    throw new Error(`10-bit fixtures are ${TEN_BIT_CODECS.join('/')}, not ${s.codec}`);
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
    s.bitDepth !== 8 ? `${s.bitDepth}bit` : '',
    s.rotate ? `rot${s.rotate}` : '',
    s.audio ? 'audio' : '',
    RECIPE,
  ].filter(Boolean);
  return `${parts.join('-')}.${s.container}`;
}

const MUXER: Record<Container, string> = {
  mp4: 'mp4', mov: 'mov', mkv: 'matroska', webm: 'webm', ts: 'mpegts', avi: 'avi', flv: 'flv',
};

/**
 * Muxer options the ffmpeg CLI used to add by itself. Its `-muxdelay 0.7` default became the MPEG-TS
 * muxer's 1.4 s start offset, which the TS fixtures (and the server's tests of them) keep.
 */
function muxerOptions(muxer: string): AvOptions {
  return muxer === 'mpegts' || muxer === 'hls' ? { max_delay: 700_000 } : {};
}

/** The geq expression that draws the frame code of frame N on a 16x2 canvas. */
const CODE_GEQ = "geq=lum='if(lt(Y,1),if(bitand(N,pow(2,X)),235,16),128)':cb=128:cr=128";

/** Source graph of the frame-code picture at `width`x`height` (square pixels unless `sar` says otherwise). */
export function frameCodeGraph(opts: { fps?: number; width?: number; height?: number; sar?: number } = {}): string {
  const { fps = 25, width = 320, height = 240, sar = 1 } = opts;
  return `color=c=gray:s=16x2:r=${fps},format=yuv444p,${CODE_GEQ},scale=${width}:${height}:flags=neighbor,setsar=${sar}`;
}

/** The encoder, its options and pixel format for a fixture spec (keyframes exactly every gop). */
function videoEncoding(s: ResolvedSpec): Pick<VideoTrack, 'encoder' | 'options' | 'forceKeyframes' | 'pixelFormat' | 'codecTag'> {
  const g = s.gop;
  const pixelFormat = s.bitDepth === 10 ? 'yuv420p10le' : 'yuv420p';
  switch (s.codec) {
    case 'h264':
      return {
        encoder: 'libx264',
        pixelFormat,
        options: {
          preset: 'veryfast', crf: 18, profile: s.bitDepth === 10 ? 'high10' : 'high',
          // min-keyint is clamped by x264 to keyint/2+1, but with scenecut=0 nothing but keyint places
          // IDRs. b-adapt=0 makes x264 really use the requested B-frames instead of deciding per frame.
          'x264-params': `keyint=${g}:min-keyint=${g}:scenecut=0:open-gop=0:bframes=${s.bframes}:b-adapt=0`,
        },
      };
    case 'hevc':
      return {
        encoder: 'libx265',
        pixelFormat,
        options: {
          preset: 'fast', crf: 18,
          'x265-params': `keyint=${g}:min-keyint=${g}:scenecut=0:open-gop=0:bframes=${s.bframes}:b-adapt=0:log-level=error`,
        },
        codecTag: s.container === 'mp4' || s.container === 'mov' ? 'hvc1' : undefined,
      };
    case 'vp9':
      return {
        encoder: 'libvpx-vp9',
        pixelFormat,
        options: { deadline: 'good', 'cpu-used': 5, crf: 12, b: 0, g, keyint_min: g, 'row-mt': 1 },
      };
    case 'vp8':
      return {
        encoder: 'libvpx',
        pixelFormat,
        options: { deadline: 'good', 'cpu-used': 5, b: '4M', qmin: 0, qmax: 12, g, keyint_min: g },
      };
    case 'av1':
      // SVT-AV1: a key frame every g frames (closed GOPs: irefresh-type=2), no scene-change keyframes.
      // Its hierarchical prediction never shows a frame out of order, so decoders see no B-frames.
      return {
        encoder: 'libsvtav1',
        pixelFormat,
        options: { preset: 10, crf: 20, g, 'svtav1-params': 'irefresh-type=2:scd=0' },
      };
    case 'mpeg4':
      // mpegvideo encoders put an I-frame on "scene changes" unless the threshold is out of reach,
      // and with B-frames their own GOP counter drifts (I at 0, 25, 49, 73, ...): force the I-frames.
      return { encoder: 'mpeg4', pixelFormat, options: { ...qscale(2), bf: s.bframes, ...MPEGVIDEO_NO_GOP }, forceKeyframes: g };
    case 'flv1':
      return { encoder: 'flv', pixelFormat, options: { ...qscale(2), ...MPEGVIDEO_NO_GOP }, forceKeyframes: g };
  }
}

/** The CLI's `-q:v n`: a fixed quantiser (lambda = n * FF_QP2LAMBDA). */
function qscale(n: number): AvOptions {
  return { flags: '+qscale', global_quality: n * 118 };
}

/** A GOP and scene-change threshold out of reach, so only forced keyframes are keyframes. */
const MPEGVIDEO_NO_GOP: AvOptions = { g: 100_000, sc_threshold: 1_000_000_000 };

function audioTrack(container: Container, seconds: number): AudioTrack {
  const graph = `sine=frequency=440:sample_rate=48000:duration=${seconds}`;
  if (container === 'webm') return { graph, encoder: 'libopus', options: { b: '64k' } };
  if (container === 'avi') return { graph, encoder: 'libmp3lame', options: { b: '64k' } };
  return { graph, encoder: 'aac', options: { b: '64k' } };
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
  return cached(fixtureName(s), async (tmp) => {
    await synthesize({
      output: tmp,
      format: MUXER[s.container],
      formatOptions: muxerOptions(MUXER[s.container]),
      video: {
        graph: frameCodeGraph(s),
        frames: frameCount(s),
        ...videoEncoding(s),
        rotation: s.rotate || undefined,
      },
      audio: s.audio ? audioTrack(s.container, s.seconds) : undefined,
    });
    if (s.rotate) {
      const got = await probeRotation(tmp);
      if (got !== s.rotate) throw new Error(`rotation metadata not written: wanted ${s.rotate}, the file says ${got}`);
    }
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
    const jpeg = opts.cover ? await codeImage(COVER_INDEX, { width: 200, height: 150, format: 'jpeg', quality: 90 }) : undefined;
    await synthesize({
      output: tmp,
      format: 'mp3',
      formatOptions: { id3v2_version: 3 },
      audio: { graph: 'sine=frequency=440:sample_rate=44100:duration=3', encoder: 'libmp3lame', options: { b: '96k' } },
      cover: jpeg ? { jpeg, metadata: { title: 'Album cover', comment: 'Cover (front)' } } : undefined,
    });
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
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: `color=c=gray:s=16x16:r=${fps},format=yuv444p,geq=lum='${lum}':cb='${cb}':cr='${cr}',scale=320:240:flags=neighbor,setsar=1`,
        frames: fps * seconds,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'veryfast', crf: 18, 'x264-params': 'keyint=25:min-keyint=25:scenecut=0:bframes=0' },
      },
    });
  });
  return { path, cutsAtSeconds, cutFrames: cutsAtSeconds.map((t) => t * fps), fps, seconds, frames: fps * seconds };
}

/**
 * Variable frame rate: the frame-code h264 mp4 (320x240, 100 frames, a keyframe every 25, no B-frames)
 * whose frames 0–49 last 40 ms and frames 50–99 last 80 ms (6 s in all): a timeline no fixed grid fits.
 */
export async function vfrFixture(): Promise<string> {
  return cached(`vfr-40-80ms-h264-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: frameCodeGraph(),
        frames: 100,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        timeBase: [1, 1000],
        timestamps: (i) => (i < 50 ? i * 0.04 : 2 + (i - 50) * 0.08),
        options: { crf: 18, 'x264-params': 'keyint=25:min-keyint=25:scenecut=0:bframes=0' },
      },
    });
  });
}

/** Frames of openBlackFixture() that are black before the frame code starts (2 s at 25 fps). */
export const OPEN_BLACK_FRAMES = 50;

/**
 * 10 s, 25 fps, 320x240 h264 mp4 (gop 25) that opens black: frames 0–49 are black (Y = 16), frames
 * 50–249 show the frame code of their own index (so the first picture after the black is frame 50).
 */
export async function openBlackFixture(): Promise<string> {
  const lum = `if(lt(N,${OPEN_BLACK_FRAMES}),16,if(lt(Y,1),if(bitand(N,pow(2,X)),235,16),128))`;
  return cached(`open-black-2s-h264-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: `color=c=gray:s=16x2:r=25,format=yuv444p,geq=lum='${lum}':cb=128:cr=128,scale=320:240:flags=neighbor,setsar=1`,
        frames: 250,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'veryfast', crf: 18, 'x264-params': 'keyint=25:min-keyint=25:scenecut=0:bframes=0' },
      },
    });
  });
}

/** Frames of blurredStretchFixture() under a Gaussian blur: [first, last]. */
export const BLURRED_FRAMES = [75, 114] as const;

/**
 * The 10 s frame-code h264 mp4 (25 fps, 320x240, gop 25, 2 B-frames) with frames 75–114 (3.0–4.6 s)
 * under a strong Gaussian blur (sigma 12: stripes 20 px wide melt into each other).
 */
export async function blurredStretchFixture(): Promise<string> {
  const [first, last] = BLURRED_FRAMES;
  return cached(`blurred-${first}-${last}-h264-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: `${frameCodeGraph()},gblur=sigma=12:enable='between(n,${first},${last})'`,
        frames: 250,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'veryfast', crf: 18, 'x264-params': 'keyint=25:min-keyint=25:scenecut=0:bframes=2:b-adapt=0' },
      },
    });
  });
}

/**
 * Anamorphic: 160x240 stored pixels with a 2:1 sample aspect ratio, so it is shown 320x240; h264 in mkv,
 * 25 fps, 100 frames, a keyframe every 25, the frame code in every frame (stripes 10 px wide as stored).
 */
export async function anamorphicFixture(): Promise<string> {
  return cached(`anamorphic-sar2-160x240-h264-${RECIPE}.mkv`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'matroska',
      video: {
        graph: frameCodeGraph({ width: 160, height: 240, sar: 2 }),
        frames: 100,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { crf: 12, 'x264-params': 'keyint=25:min-keyint=25:scenecut=0' },
      },
    });
  });
}

/** One black 8192x4320 frame (h264 in mp4, lowest quality: ~100 KB). */
export async function hugeFrameFixture(): Promise<string> {
  return cached(`huge-black-8192x4320-h264-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: 'color=c=black:s=8192x4320:r=25',
        frames: 1,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'ultrafast', crf: 51 },
      },
    });
  });
}

/** Seconds of slowDecodeFixture, and the time whose exact frame takes the longest to decode. */
export const SLOW_DECODE = { seconds: 12, fps: 25, lastFrameMs: 11_980 } as const;

/**
 * Work that takes seconds to decode, for tests of what happens while a capture runs (deadlines, clients
 * that hang up, shutdown, crashes): 12 s of 960×540 noise at 25 fps, H.264 with a single keyframe and no
 * B-frames, so the exact frame at SLOW_DECODE.lastFrameMs needs all 300 frames decoded (≈ 2–4 s here).
 */
export async function slowDecodeFixture(): Promise<string> {
  const { seconds, fps } = SLOW_DECODE;
  return cached(`slow-noise-540p-${seconds}s-onekey-h264-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: `testsrc2=s=960x540:r=${fps},noise=alls=40:allf=t+u,format=yuv420p`,
        frames: seconds * fps,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'ultrafast', crf: 23, 'x264-params': `keyint=${seconds * fps + 1}:min-keyint=${seconds * fps + 1}:scenecut=0:bframes=0` },
      },
    });
  });
}

/** Where lateStartFixture's timestamps start, in seconds. */
export const LATE_START_SECONDS = 50_000;

/**
 * One second of 64x64 testsrc at 5 fps (h264 in mkv) whose timestamps start at 50000 s: the container
 * says the file ends at 50001 s, i.e. it claims to last ~13.9 hours.
 */
export async function lateStartFixture(): Promise<string> {
  return cached(`late-start-${LATE_START_SECONDS}s-64x64-h264-${RECIPE}.mkv`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'matroska',
      timeOffset: LATE_START_SECONDS,
      video: { graph: 'testsrc=s=64x64:r=5', frames: 5, encoder: 'libx264', pixelFormat: 'yuv420p' },
    });
  });
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
// HDR: one SDR master, and HDR10 and HLG versions made from it

export type HdrKind = 'sdr' | 'hdr10' | 'hlg';

/** A rectangle in pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** SDR reference white on an HDR display, cd/m² (ITU-R BT.2408): where the HDR versions put the master's white. */
export const SDR_WHITE_NITS = 203;

/** SMPTE ST 2084 (PQ) inverse EOTF: signal 0..1 for `nits` cd/m². */
export function pqSignal(nits: number): number {
  const m1 = 2610 / 16384;
  const m2 = (2523 / 4096) * 128;
  const c1 = 3424 / 4096;
  const c2 = (2413 / 4096) * 32;
  const c3 = (2392 / 4096) * 32;
  const y = (nits / 10000) ** m1;
  return ((c1 + c2 * y) / (1 + c3 * y)) ** m2;
}

/**
 * ARIB STD-B67 (HLG) signal 0..1 for `nits` of white on the nominal 1000 cd/m² display (BT.2100: system
 * gamma 1.2, so the scene light is (nits/1000)^(1/1.2) before the OETF).
 */
export function hlgSignal(nits: number): number {
  const e = (nits / 1000) ** (1 / 1.2);
  const a = 0.17883277;
  const b = 1 - 4 * a;
  const c = 0.5 - a * Math.log(4 * a);
  return e <= 1 / 12 ? Math.sqrt(3 * e) : a * Math.log(12 * e - b) + c;
}

/** Limited-range luma code of a 0..1 signal at `bits` per sample (8-bit: 16..235, 10-bit: 64..940). */
export function limitedCode(signal: number, bits: number): number {
  const scale = 2 ** (bits - 8);
  return (16 + 219 * signal) * scale;
}

/** Display P3 primaries, D65 white, 0.0001–1000 cd/m²: the usual HDR10 mastering display. */
export const P3_D65_1000: MasteringDisplay = {
  red: [0.68, 0.32],
  green: [0.265, 0.69],
  blue: [0.15, 0.06],
  whitePoint: [0.3127, 0.329],
  minLuminance: 0.0001,
  maxLuminance: 1000,
};

/**
 * The HDR10 fixture's content light level: the brightest pixel is the master's white at 203 cd/m²; the
 * brightest frame average of max(R,G,B) is 68 cd/m² (computed from the decoded master's 100 frames:
 * BT.1886 to linear light, BT.709 to BT.2020 primaries, × 203).
 */
export const HDR10_CONTENT_LIGHT: ContentLightLevel = { maxCll: SDR_WHITE_NITS, maxFall: 68 };

export interface HdrFixture {
  kind: HdrKind;
  path: string;
  /** The SDR BT.709 master all kinds are made from (for 'sdr', the same file). */
  master: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  gop: number;
  bitDepth: 8 | 10;
  /** Colour tags as FFmpeg names them. */
  primaries: string;
  transfer: string;
  matrix: string;
  /** Inside the master's 100% white patch (SDR reference white). */
  white: Box;
  /** The frame code: crop this box (stripes on top, grey below) and read it with readFrameCode. */
  code: Box;
  /** The expected luma code of `white` at `bitDepth`, limited range: 235, PQ ≈ 572.7 (58%), HLG ≈ 720.9 (75%). */
  whiteCode: number;
  masteringDisplay?: MasteringDisplay;
  contentLight?: ContentLightLevel;
}

const HDR_GEOMETRY = { width: 640, height: 360, fps: 25, frames: 100, gop: 25 } as const;
/** The code band on top of the master: 16 stripes of 40 px, 32 rows, then 32 grey rows. */
const HDR_CODE_BOX: Box = { x: 0, y: 0, width: 640, height: 64 };
/** smptehdbars fills the rest (640x296); its bottom row holds a 100% white patch at x 183–317. */
const HDR_WHITE_BOX: Box = { x: 200, y: 310, width: 100, height: 40 };

/**
 * The SDR master: 640x360, 25 fps, 100 frames, H.264 High 8-bit, BT.709 (primaries, transfer, matrix,
 * limited range), a keyframe every 25 frames. On top a frame-code band (HDR_CODE_BOX), below it
 * smptehdbars: 75% colour bars, 100% white, cyan, yellow, blue and red patches, greys, black and a ramp.
 */
async function hdrMaster(): Promise<string> {
  const { width, height, fps, frames, gop } = HDR_GEOMETRY;
  const code = HDR_CODE_BOX;
  return cached(`hdr-master-sdr-bt709-h264-${width}x${height}-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph:
          `${frameCodeGraph({ fps, width: code.width, height: code.height })},format=yuv444p[code];` +
          `smptehdbars=s=${width}x${height - code.height}:r=${fps},format=yuv444p,setsar=1[bars];` +
          '[code][bars]vstack=inputs=2',
        frames,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        color: { primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', range: 'tv' },
        options: { preset: 'veryfast', crf: 12, profile: 'high', 'x264-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=0` },
      },
    });
  });
}

/**
 * The SDR master ('sdr'), or an HDR version of it made by converting the decoded master with zscale:
 * BT.709 → BT.2020 primaries and matrix, SDR white (1.0 in linear light) at 203 cd/m² (`npl=203`), then
 * the PQ ('hdr10') or HLG ('hlg') transfer; HEVC Main 10 (yuv420p10le, hvc1) in MP4, keyframes every 25.
 * HDR10 also carries mastering-display (P3 D65, 1000 cd/m²) and content-light-level (MaxCLL 203) metadata
 * in the container and in SEI. The two HDR files are frame for frame the master.
 */
export async function hdrFixture(kind: HdrKind): Promise<HdrFixture> {
  const master = await hdrMaster();
  const base = { ...HDR_GEOMETRY, master, white: HDR_WHITE_BOX, code: HDR_CODE_BOX };
  if (kind === 'sdr') {
    return { ...base, kind, path: master, bitDepth: 8, primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', whiteCode: 235 };
  }
  const transfer = kind === 'hdr10' ? 'smpte2084' : 'arib-std-b67';
  const hdr = kind === 'hdr10' ? { masteringDisplay: P3_D65_1000, contentLight: HDR10_CONTENT_LIGHT } : undefined;
  const { gop, frames } = HDR_GEOMETRY;
  const path = await cached(`hdr-${kind}-hevc-main10-${HDR_GEOMETRY.width}x${HDR_GEOMETRY.height}-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph:
          `movie=filename=${filterValue(master)},` +
          `zscale=pin=bt709:tin=bt709:min=bt709:rin=tv:p=bt2020:t=${transfer}:m=bt2020nc:r=tv:npl=${SDR_WHITE_NITS}`,
        frames,
        encoder: 'libx265',
        pixelFormat: 'yuv420p10le',
        codecTag: 'hvc1',
        color: { primaries: 'bt2020', transfer, matrix: 'bt2020nc', range: 'tv' },
        hdr,
        options: {
          preset: 'fast', crf: 12,
          'x265-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:open-gop=0:bframes=0:log-level=error`,
        },
      },
    });
  });
  const signal = kind === 'hdr10' ? pqSignal(SDR_WHITE_NITS) : hlgSignal(SDR_WHITE_NITS);
  return {
    ...base, kind, path, bitDepth: 10, primaries: 'bt2020', transfer, matrix: 'bt2020nc',
    whiteCode: limitedCode(signal, 10),
    ...(hdr ?? {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Extraction and probing: node-av in this process, the answers ffprobe/ffmpeg used to give

function fail(ret: number, what: string): never {
  throw new Error(`${what}: ${new FFmpegError(ret).message}`);
}

/** Opens `file` and analyses its streams (as ffprobe does), runs `fn`, closes it. */
function withInput<T>(file: string, fn: (fmt: FormatContext) => T): T {
  const fmt = new FormatContext();
  const ret = fmt.openInputSync(file, null, null);
  if (ret < 0) fail(ret, `open ${file}`);
  try {
    const info = fmt.findStreamInfoSync(null);
    if (info < 0) fail(info, `analyse ${file}`);
    return fn(fmt);
  } finally {
    fmt.closeInputSync();
  }
}

/** The first video stream (ffprobe's `v:0`; an MP3's cover picture counts). */
function firstVideo(fmt: FormatContext, file: string): Stream {
  const stream = fmt.streams.find((s) => s.codecpar.codecType === AVMEDIA_TYPE_VIDEO);
  if (!stream) throw new Error(`${file} has no video stream`);
  return stream;
}

/**
 * Decodes the first video stream from the start (no seeking) and calls `visit` with each frame in
 * output (presentation) order and its index; `visit` returns false to stop early.
 */
function decodeVideo(file: string, visit: (frame: Frame, index: number, stream: Stream) => boolean | undefined): void {
  withInput(file, (fmt) => {
    const stream = firstVideo(fmt, file);
    const codec = Codec.findDecoder(stream.codecpar.codecId);
    if (!codec) throw new Error(`${file}: no decoder for ${avGetCodecName(stream.codecpar.codecId)}`);
    const dec = new CodecContext();
    const pkt = new Packet();
    const frame = new Frame();
    dec.allocContext3(codec);
    pkt.alloc();
    frame.alloc();
    try {
      let ret = dec.parametersToContext(stream.codecpar);
      if (ret < 0) fail(ret, `${file}: decoder parameters`);
      dec.pktTimebase = stream.timeBase;
      ret = dec.open2Sync(codec, null);
      if (ret < 0) fail(ret, `${file}: open decoder`);
      let index = 0;
      let stopped = false;
      const receive = () => {
        while (!stopped) {
          const r = dec.receiveFrameSync(frame);
          if (r === AVERROR_EAGAIN || r === AVERROR_EOF) return;
          if (r < 0) fail(r, `${file}: decode`);
          if (visit(frame, index++, stream) === false) stopped = true;
          frame.unref();
        }
      };
      while (!stopped) {
        const r = fmt.readFrameSync(pkt);
        if (r === AVERROR_EOF) break;
        if (r < 0) fail(r, `${file}: read`);
        if (pkt.streamIndex === stream.index) {
          const s = dec.sendPacketSync(pkt);
          if (s < 0 && s !== AVERROR_EAGAIN) fail(s, `${file}: decode`);
          receive();
        }
        pkt.unref();
      }
      if (!stopped) {
        dec.sendPacketSync(null);
        receive();
      }
    } finally {
      frame.free();
      pkt.free();
      dec.freeContext();
    }
  });
}

function seconds(ts: bigint, tb: { num: number; den: number }): number | null {
  return ts === AV_NOPTS_VALUE ? null : (Number(ts) * tb.num) / tb.den;
}

/** Display rotation of a stream in ffprobe's terms (counter-clockwise degrees, av_display_rotation_get), if any. */
function matrixRotation(stream: Stream): number | undefined {
  const m = stream.codecpar.getCodedSideData(AV_PKT_DATA_DISPLAYMATRIX);
  if (!m || m.length < 36) return undefined;
  const fp = (i: number) => m.readInt32LE(i * 4) / 65536;
  const scale0 = Math.hypot(fp(0), fp(3));
  const scale1 = Math.hypot(fp(1), fp(4));
  if (scale0 === 0 || scale1 === 0) return undefined;
  const rotation = -(Math.atan2(fp(1) / scale1, fp(0) / scale0) * 180) / Math.PI;
  return Math.round(rotation) === 0 ? 0 : Math.round(rotation); // no -0
}

/** Clockwise degrees (0..359) a player turns the stored picture: the legacy `rotate` convention. */
function clockwise(stream: Stream): number {
  const ccw = matrixRotation(stream);
  if (ccw !== undefined) return (((-ccw) % 360) + 360) % 360;
  const tag = stream.metadata?.get('rotate');
  return tag ? ((Number(tag) % 360) + 360) % 360 : 0;
}

/**
 * Decodes `file` from the start (no seeking) and returns the frames with the given decode-output
 * indices as JPEG (quality 95) or PNG buffers, in the order of `indices`. With `autorotate` (the
 * default) the picture is turned as the display rotation says, as ffmpeg does; `false` gives the
 * stored pixels.
 */
export async function extractFrames(
  file: string,
  indices: number[],
  opts: { autorotate?: boolean; format?: 'jpg' | 'png' } = {},
): Promise<Buffer[]> {
  const { autorotate = true, format = 'jpg' } = opts;
  const wanted = new Set(indices);
  const raw = new Map<number, { rgb: Buffer; width: number; height: number }>();
  let turn = 0;
  decodeVideo(file, (frame, index, stream) => {
    if (index === 0) turn = autorotate ? clockwise(stream) : 0;
    if (wanted.has(index)) raw.set(index, { rgb: toRgb(frame), width: frame.width, height: frame.height });
    return raw.size < wanted.size;
  });
  const missing = indices.filter((k) => !raw.has(k));
  if (missing.length) throw new Error(`${file}: no frame ${missing.join(', ')} (decoded fewer frames)`);
  const encoded = new Map<number, Buffer>();
  for (const [k, { rgb, width, height }] of raw) {
    let img = sharp(rgb, { raw: { width, height, channels: 3 } });
    if (turn) img = img.rotate(turn);
    encoded.set(k, await (format === 'jpg' ? img.jpeg({ quality: 95 }) : img.png()).toBuffer());
  }
  return indices.map((k) => encoded.get(k)!);
}

/** Packed RGB24 of a decoded frame (swscale; the matrix and range the frame is tagged with). */
function toRgb(frame: Frame): Buffer {
  const sws = new SoftwareScaleContext();
  const rgb = new Frame();
  rgb.alloc();
  try {
    sws.getContext(frame.width, frame.height, frame.format as AVPixelFormat, frame.width, frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR);
    const init = sws.initContext();
    if (init < 0) fail(init, 'swscale');
    rgb.width = frame.width;
    rgb.height = frame.height;
    rgb.format = AV_PIX_FMT_RGB24;
    const buf = rgb.getBuffer(0);
    if (buf < 0) fail(buf, 'frame buffer');
    const ret = sws.scaleFrameSync(rgb, frame);
    if (ret < 0) fail(ret, 'swscale');
    return rgb.toBuffer();
  } finally {
    rgb.free();
    sws.freeContext();
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

/** av_get_picture_type_char */
const PICT_TYPES = ['?', 'I', 'P', 'B', 'S', 'i', 'p', 'b'];

/** Decodes the first video stream and lists its frames in presentation order (as ffprobe -show_frames). */
export async function probeFrames(file: string): Promise<ProbedFrame[]> {
  const frames: ProbedFrame[] = [];
  decodeVideo(file, (frame, index, stream) => {
    // AVI with B-frames stores no pts: the decoder's best-effort timestamp stands in, as in ffprobe.
    const ts = frame.pts !== AV_NOPTS_VALUE ? frame.pts : frame.bestEffortTimestamp;
    frames.push({
      index,
      pts: seconds(ts, stream.timeBase),
      keyframe: frame.hasFlags(AV_FRAME_FLAG_KEY),
      pictType: PICT_TYPES[frame.pictType] ?? '?',
    });
  });
  return frames;
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
  return withInput(file, (fmt) => {
    const stream = firstVideo(fmt, file);
    const tb = stream.timeBase;
    const pkt = new Packet();
    pkt.alloc();
    const packets: ProbedPacket[] = [];
    try {
      for (;;) {
        const r = fmt.readFrameSync(pkt);
        if (r === AVERROR_EOF) break;
        if (r < 0) fail(r, `${file}: read`);
        if (pkt.streamIndex === stream.index) {
          packets.push({ index: packets.length, pts: seconds(pkt.pts, tb), dts: seconds(pkt.dts, tb), keyframe: pkt.isKeyframe });
        }
        pkt.unref();
      }
    } finally {
      pkt.free();
    }
    return packets;
  });
}

/**
 * Presentation-order indices of the keyframes, from decoded frames (packet pts cannot be used:
 * AVI with B-frames has none).
 */
export async function keyframeIndices(file: string): Promise<number[]> {
  return (await probeFrames(file)).flatMap((f) => (f.keyframe ? [f.index] : []));
}

export interface ProbedSideData {
  /** ffprobe's names: 'Display Matrix', 'Mastering display metadata', 'Content light level metadata'. */
  side_data_type: string;
  /** Display Matrix: counter-clockwise degrees (ffprobe's sign: -90 for a clockwise `rotate` of 90). */
  rotation?: number;
  /** Mastering display: chromaticities and luminances as 'num/den' strings, as ffprobe prints them. */
  red_x?: string;
  red_y?: string;
  green_x?: string;
  green_y?: string;
  blue_x?: string;
  blue_y?: string;
  white_point_x?: string;
  white_point_y?: string;
  min_luminance?: string;
  max_luminance?: string;
  /** Content light level: MaxCLL and MaxFALL, cd/m². */
  max_content?: number;
  max_average?: number;
}

/** A stream as ffprobe -show_streams describes it (the fields the tests use). */
export interface ProbedStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  display_aspect_ratio?: string;
  pix_fmt?: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  sample_rate?: number;
  channels?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: ProbedSideData[];
}

export interface ProbedFormat {
  format_name?: string;
  start_time?: string;
  duration?: string;
  nb_streams: number;
  bit_rate?: string;
  tags?: Record<string, string>;
}

// libavutil's colour names (av_color_*_name), for the values the fixtures use and a few more.
const PRIMARIES: Record<number, string> = { 1: 'bt709', 4: 'bt470m', 5: 'bt470bg', 6: 'smpte170m', 7: 'smpte240m', 8: 'film', 9: 'bt2020', 10: 'smpte428', 11: 'smpte431', 12: 'smpte432', 22: 'ebu3213' };
const TRANSFERS: Record<number, string> = { 1: 'bt709', 4: 'gamma22', 5: 'gamma28', 6: 'smpte170m', 7: 'smpte240m', 8: 'linear', 13: 'iec61966-2-1', 14: 'bt2020-10', 15: 'bt2020-12', 16: 'smpte2084', 17: 'smpte428', 18: 'arib-std-b67' };
const MATRICES: Record<number, string> = { 0: 'gbr', 1: 'bt709', 5: 'bt470bg', 6: 'smpte170m', 7: 'smpte240m', 8: 'ycgco', 9: 'bt2020nc', 10: 'bt2020c', 14: 'ictcp' };
const RANGES: Record<number, string> = { 1: 'tv', 2: 'pc' };

function ratio(r: { num: number; den: number }): string {
  return `${r.num}/${r.den}`;
}

function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

function sideDataOf(stream: Stream): ProbedSideData[] {
  const list: ProbedSideData[] = [];
  const rotation = matrixRotation(stream);
  if (rotation !== undefined) list.push({ side_data_type: 'Display Matrix', rotation });
  const md = stream.codecpar.getCodedSideData(AV_PKT_DATA_MASTERING_DISPLAY_METADATA);
  if (md && md.length >= 88) {
    const q = (i: number) => `${md.readInt32LE(i * 8)}/${md.readInt32LE(i * 8 + 4)}`;
    list.push({
      side_data_type: 'Mastering display metadata',
      red_x: q(0), red_y: q(1), green_x: q(2), green_y: q(3), blue_x: q(4), blue_y: q(5),
      white_point_x: q(6), white_point_y: q(7), min_luminance: q(8), max_luminance: q(9),
    });
  }
  const cll = stream.codecpar.getCodedSideData(AV_PKT_DATA_CONTENT_LIGHT_LEVEL);
  if (cll && cll.length >= 8) {
    list.push({ side_data_type: 'Content light level metadata', max_content: cll.readUInt32LE(0), max_average: cll.readUInt32LE(4) });
  }
  return list;
}

function describeStream(stream: Stream): ProbedStream {
  const par = stream.codecpar;
  const tb = stream.timeBase;
  const type = avGetMediaTypeString(par.codecType) ?? undefined;
  const out: ProbedStream = { index: stream.index, codec_type: type, codec_name: avGetCodecName(par.codecId) ?? undefined };
  const profile = Codec.findDecoder(par.codecId)?.profiles?.find((p) => p.profile === par.profile)?.name;
  if (profile) out.profile = profile;
  if (type === 'video') {
    out.width = par.width;
    out.height = par.height;
    const sar = par.sampleAspectRatio.num > 0 ? par.sampleAspectRatio : stream.sampleAspectRatio;
    if (sar.num > 0 && par.width > 0) {
      out.sample_aspect_ratio = `${sar.num}:${sar.den}`;
      const w = par.width * sar.num;
      const h = par.height * sar.den;
      const g = gcd(w, h);
      out.display_aspect_ratio = `${w / g}:${h / g}`;
    }
    const pixFmt = avGetPixFmtName(par.format as AVPixelFormat);
    if (pixFmt) out.pix_fmt = pixFmt;
    // Like ffprobe, only what the file specifies ('unknown' left out).
    const colour = {
      color_range: RANGES[par.colorRange],
      color_space: MATRICES[par.colorSpace],
      color_transfer: TRANSFERS[par.colorTrc],
      color_primaries: PRIMARIES[par.colorPrimaries],
    };
    Object.assign(out, stripUndefined(colour));
  }
  if (type === 'audio') {
    out.sample_rate = par.sampleRate;
    out.channels = par.channelLayout.nbChannels;
  }
  out.r_frame_rate = ratio(stream.rFrameRate);
  out.avg_frame_rate = ratio(stream.avgFrameRate);
  const start = seconds(stream.startTime, tb);
  if (start !== null) out.start_time = start.toFixed(6);
  const duration = seconds(stream.duration, tb);
  if (duration !== null) out.duration = duration.toFixed(6);
  if (stream.nbFrames > 0n) out.nb_frames = String(stream.nbFrames);
  out.disposition = {
    default: (stream.disposition & AV_DISPOSITION_DEFAULT) !== 0 ? 1 : 0,
    attached_pic: (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) !== 0 ? 1 : 0,
  };
  const tags = stream.metadata?.getAll();
  if (tags && Object.keys(tags).length) out.tags = tags;
  const side = sideDataOf(stream);
  if (side.length) out.side_data_list = side;
  return out;
}

/** The streams and format of a file, in ffprobe -show_streams -show_format terms (a reduced set of fields). */
export async function probe(file: string): Promise<{ streams: ProbedStream[]; format: ProbedFormat }> {
  return withInput(file, (fmt) => {
    const micro = { num: 1, den: 1_000_000 };
    const start = seconds(fmt.startTime, micro);
    const duration = seconds(fmt.duration, micro);
    const tags = fmt.metadata?.getAll();
    const format: ProbedFormat = {
      format_name: fmt.iformat?.name ?? undefined,
      nb_streams: fmt.nbStreams,
      ...(start !== null ? { start_time: start.toFixed(6) } : {}),
      ...(duration !== null ? { duration: duration.toFixed(6) } : {}),
      ...(fmt.bitRate > 0n ? { bit_rate: String(fmt.bitRate) } : {}),
      ...(tags && Object.keys(tags).length ? { tags } : {}),
    };
    return { streams: fmt.streams.map(describeStream), format };
  });
}

/**
 * Display rotation of the first video stream in the legacy `rotate` tag convention (clockwise
 * degrees, 0..359): read from the Display Matrix side data (whose `rotation` is counter-clockwise,
 * e.g. -90 for rotate=90) or else from a `rotate` tag. 0 when there is none.
 */
export async function probeRotation(file: string): Promise<number> {
  return withInput(file, (fmt) => clockwise(firstVideo(fmt, file)));
}

/** What a decoder says about a frame: format, colour tags and HDR side data (parsed). */
export interface DecodedFrameInfo {
  width: number;
  height: number;
  pix_fmt: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  /** From the frame's mastering-display side data (SEI), as numbers: chromaticity x/y and cd/m². */
  masteringDisplay?: MasteringDisplay;
  /** From the frame's content-light-level side data (SEI). */
  contentLight?: ContentLightLevel;
}

/** Decodes frame `index` (default 0) of the first video stream and describes it. */
export async function probeDecodedFrame(file: string, index = 0): Promise<DecodedFrameInfo> {
  let info: DecodedFrameInfo | undefined;
  decodeVideo(file, (frame, i) => {
    if (i < index) return true;
    info = {
      width: frame.width,
      height: frame.height,
      pix_fmt: avGetPixFmtName(frame.format as AVPixelFormat) ?? String(frame.format),
      color_range: RANGES[frame.colorRange],
      color_space: MATRICES[frame.colorSpace],
      color_transfer: TRANSFERS[frame.colorTrc],
      color_primaries: PRIMARIES[frame.colorPrimaries],
    };
    const md = frame.getSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
    if (md && md.length >= 88 && md.readInt32LE(80) && md.readInt32LE(84)) {
      const q = (k: number) => md.readInt32LE(k * 8) / md.readInt32LE(k * 8 + 4);
      info.masteringDisplay = {
        red: [q(0), q(1)], green: [q(2), q(3)], blue: [q(4), q(5)], whitePoint: [q(6), q(7)],
        minLuminance: q(8), maxLuminance: q(9),
      };
    }
    const cll = frame.getSideData(AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
    if (cll && cll.length >= 8) info.contentLight = { maxCll: cll.readUInt32LE(0), maxFall: cll.readUInt32LE(4) };
    return false;
  });
  if (!info) throw new Error(`${file}: no frame ${index}`);
  return info;
}

/**
 * Mean luma code values (native bit depth: 0..255 or 0..1023) over each of `boxes` in decoded frame
 * `index`: the stored Y samples, no conversion.
 */
export async function meanLumas(file: string, index: number, boxes: Box[]): Promise<number[]> {
  let means: number[] | undefined;
  decodeVideo(file, (frame, i) => {
    if (i < index) return true;
    const plane = frame.data?.[0];
    const stride = frame.linesize[0];
    if (!plane || !stride) throw new Error(`${file}: frame ${index} has no luma plane`);
    const name = avGetPixFmtName(frame.format as AVPixelFormat) ?? '';
    const wide = /p(9|10|12|14|16)le$/.test(name);
    if (!wide && !/^(yuvj?4[24][024]p|nv12|gray)$/.test(name)) throw new Error(`${file}: luma of ${name} not supported`);
    means = boxes.map((box) => {
      let sum = 0;
      for (let y = box.y; y < box.y + box.height; y++) {
        for (let x = box.x; x < box.x + box.width; x++) sum += wide ? plane.readUInt16LE(y * stride + 2 * x) : plane[y * stride + x]!;
      }
      return sum / (box.width * box.height);
    });
    return false;
  });
  if (!means) throw new Error(`${file}: no frame ${index}`);
  return means;
}

// ---------------------------------------------------------------------------------------------
// Storage issue: the remaining IMM source formats (WMV, RM, VOB, HLS) and a long 1080p tail-moov MP4

export type LegacyFormat = 'wmv' | 'rm' | 'vob';

const LEGACY: Record<LegacyFormat, { muxer: string; encoder: string; options: AvOptions }> = {
  // Windows Media Video 8 in ASF, RealVideo 1.0 in RealMedia, MPEG-2 video in a DVD program stream.
  wmv: { muxer: 'asf', encoder: 'wmv2', options: qscale(2) },
  rm: { muxer: 'rm', encoder: 'rv10', options: qscale(2) },
  vob: { muxer: 'vob', encoder: 'mpeg2video', options: { ...qscale(2), bf: 0 } },
};

/**
 * A frame-code video (320x240, 25 fps, 4 s = 100 frames, a keyframe every 25) in an older container:
 * `.wmv` (wmv2/asf), `.rm` (rv10/rm) or `.vob` (mpeg2video/vob).
 */
export async function legacyFixture(format: LegacyFormat): Promise<string> {
  const { muxer, encoder, options } = LEGACY[format];
  return cached(`legacy-${format}-25fps-4s-g25-320x240-${RECIPE}.${format}`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: muxer,
      video: {
        graph: frameCodeGraph(),
        frames: 100,
        encoder,
        pixelFormat: 'yuv420p',
        options: { ...options, ...MPEGVIDEO_NO_GOP },
        forceKeyframes: 25,
      },
    });
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
        await synthesize({
          output: join(tmp, 'index.m3u8'),
          format: 'hls',
          formatOptions: {
            ...muxerOptions('hls'),
            hls_time: 1, hls_list_size: 0, hls_playlist_type: 'vod', hls_segment_filename: join(tmp, 'seg%03d.ts'),
          },
          video: { graph: frameCodeGraph(), frames: 150, ...videoEncoding(resolveSpec({ container: 'ts', codec: 'h264' })) },
        });
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
 * and the frame code in every frame. Generated fast (flat picture, ultrafast preset), once.
 */
export async function longTailMoovFixture(): Promise<LongFixture> {
  const spec = { seconds: 300, fps: 25, gop: 50, width: 1920, height: 1080 };
  const path = await cached(`long-h264-1080p25-300s-g50-cbr5m-tailmoov-${RECIPE}.mp4`, async (tmp) => {
    await synthesize({
      output: tmp,
      format: 'mp4',
      video: {
        graph: frameCodeGraph(spec),
        frames: spec.seconds * spec.fps,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: {
          preset: 'ultrafast', b: '5M', minrate: '5M', maxrate: '5M', bufsize: '2M',
          'x264-params': `keyint=${spec.gop}:min-keyint=${spec.gop}:scenecut=0:nal-hrd=cbr`,
        },
      },
    });
  });
  return { path, ...spec };
}
