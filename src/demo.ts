// Sample media for a first run, so `npm start` shows a frame at once. Synthesized in process from FFmpeg
// source filters (nothing binary is committed, no ffmpeg binary is needed) and written through the store
// like any upload.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from './errors.js';
import type { Logger } from './log.js';
import { synthesize, type SynthSpec } from './media/synthesize.js';
import type { ObjectStore } from './source/store.js';

interface DemoObject {
  bucket: string;
  key: string;
  /** What to synthesize (the output path is added). */
  spec: Omit<SynthSpec, 'output'>;
}

// testsrc draws a running frame counter, so the frame you asked for is the frame you can read.
export const DEMO_OBJECTS: DemoObject[] = [
  {
    bucket: 'demo',
    key: 'sample.mp4',
    spec: {
      format: 'mp4',
      formatOptions: { movflags: '+faststart' },
      video: {
        graph: 'testsrc=size=640x360:rate=25',
        frames: 250,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'veryfast', g: 50 },
      },
      audio: { graph: 'sine=frequency=440:duration=10', encoder: 'aac' },
    },
  },
  // A 1600×1200 JPEG for image processing (`image/resize,w_400/format,webp`): one frame of testsrc2 as
  // a baseline JPEG (the raw MJPEG muxer writes a single frame's JPEG as it is).
  {
    bucket: 'demo',
    key: 'photo.jpg',
    spec: {
      format: 'mjpeg',
      video: { graph: 'testsrc2=size=1600x1200:rate=1', frames: 1, encoder: 'mjpeg', pixelFormat: 'yuvj420p', options: { qmin: '2', qmax: '3' } },
    },
  },
  // The IMM frame-capture samples (docs/tasks.md) name these objects. Five 6 s scenes — moving test
  // pattern, colour bars, a second moving pattern, RGB bars, Game of Life — so dhash finds the cuts
  // at 6, 12, 18 and 24 s; keyframes every 2 s (plus x264's own at the cuts).
  {
    bucket: 'test-bucket',
    key: 'video-demo/Winemaking.mov',
    spec: {
      format: 'mov',
      video: {
        graph: [
          'testsrc=size=640x360:rate=25:duration=6[a]',
          'smptebars=size=640x360:rate=25:duration=6[b]',
          'testsrc2=size=640x360:rate=25:duration=6[c]',
          'rgbtestsrc=size=640x360:rate=25:duration=6[d]',
          'life=size=640x360:rate=25:mold=10:ratio=0.2:death_color=#203040:life_color=#e0c060,trim=duration=6,setpts=PTS-STARTPTS[e]',
          '[a][b][c][d][e]concat=n=5:v=1:a=0',
        ].join(';'),
        frames: 750,
        encoder: 'libx264',
        pixelFormat: 'yuv420p',
        options: { preset: 'veryfast', g: 50 },
      },
      audio: { graph: 'sine=frequency=330:duration=30', encoder: 'aac', options: { b: '64k' } },
    },
  },
  // An MP3 with an embedded cover picture (ID3 APIC): a capture from it returns the cover.
  {
    bucket: 'test-bucket',
    key: 'video-demo/test.mp3',
    spec: {
      format: 'mp3',
      formatOptions: { id3v2_version: 3 },
      audio: { graph: 'sine=frequency=440:duration=5', encoder: 'libmp3lame', options: { b: '64k' } },
      cover: { graph: 'smptehdbars=size=300x300:rate=25', encoder: 'mjpeg' },
    },
  },
];

async function exists(store: ObjectStore, bucket: string, key: string): Promise<boolean> {
  try {
    await store.stat(bucket, key);
    return true;
  } catch (err) {
    if (err instanceof AppError && err.status === 404) return false;
    throw err;
  }
}

export async function ensureDemoMedia(store: ObjectStore, root: string, log: Logger): Promise<void> {
  for (const object of DEMO_OBJECTS) {
    if (await exists(store, object.bucket, object.key)) continue;
    // The local store's buckets are directories; creating one is how a bucket comes to exist.
    await mkdir(join(root, object.bucket), { recursive: true });
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-demo-'));
    try {
      const out = join(dir, 'out');
      log.info('generating demo media', { bucket: object.bucket, key: object.key });
      await synthesize({ ...object.spec, output: out });
      await store.write(object.bucket, object.key, createReadStream(out));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
