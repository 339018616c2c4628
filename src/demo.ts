// Sample media for a first run, so `npm start` shows a frame at once. Generated with the resolved ffmpeg
// (nothing binary is committed) and written through the store like any upload.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from './errors.js';
import type { Logger } from './log.js';
import type { FfmpegRunner } from './media/runner.js';
import type { ObjectStore } from './source/store.js';

interface DemoObject {
  bucket: string;
  key: string;
  /** ffmpeg arguments producing the file (output path appended). */
  args: string[];
}

// testsrc draws a running frame counter, so the frame you asked for is the frame you can read.
export const DEMO_OBJECTS: DemoObject[] = [
  {
    bucket: 'demo',
    key: 'sample.mp4',
    args: [
      '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25:duration=10',
      '-f', 'lavfi', '-i', 'sine=frequency=440:duration=10',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '50',
      '-c:a', 'aac', '-shortest', '-movflags', '+faststart', '-f', 'mp4',
    ],
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

export async function ensureDemoMedia(store: ObjectStore, runner: FfmpegRunner, root: string, log: Logger): Promise<void> {
  for (const object of DEMO_OBJECTS) {
    if (await exists(store, object.bucket, object.key)) continue;
    // The local store's buckets are directories; creating one is how a bucket comes to exist.
    await mkdir(join(root, object.bucket), { recursive: true });
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-demo-'));
    try {
      const out = join(dir, 'out');
      log.info('generating demo media', { bucket: object.bucket, key: object.key });
      await runner.ffmpeg(['-v', 'error', '-hide_banner', '-y', ...object.args, out]);
      await store.write(object.bucket, object.key, createReadStream(out));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
