// Sample media for a first run, so `npm start` shows a frame at once. Generated with the resolved ffmpeg
// (nothing binary is committed) and written through the store like any upload.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from './errors.js';
import type { Logger } from './log.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
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
  // The IMM frame-capture samples (docs/tasks.md) name these objects. Five 6 s scenes — moving test
  // pattern, colour bars, a second moving pattern, RGB bars, Game of Life — so dhash finds the cuts
  // at 6, 12, 18 and 24 s; keyframes every 2 s (plus x264's own at the cuts).
  {
    bucket: 'test-bucket',
    key: 'video-demo/Winemaking.mov',
    args: [
      '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25:duration=6',
      '-f', 'lavfi', '-i', 'smptebars=size=640x360:rate=25:duration=6',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=6',
      '-f', 'lavfi', '-i', 'rgbtestsrc=size=640x360:rate=25:duration=6',
      '-f', 'lavfi', '-i', 'life=size=640x360:rate=25:mold=10:ratio=0.2:death_color=#203040:life_color=#e0c060',
      '-f', 'lavfi', '-i', 'sine=frequency=330:duration=30',
      '-filter_complex', '[4:v]trim=duration=6,setpts=PTS-STARTPTS[life];[0:v][1:v][2:v][3:v][life]concat=n=5:v=1:a=0,format=yuv420p[v]',
      '-map', '[v]', '-map', '5:a',
      '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-c:a', 'aac', '-b:a', '64k', '-f', 'mov',
    ],
  },
  // An MP3 with an embedded cover picture (ID3 APIC): a capture from it returns the cover.
  {
    bucket: 'test-bucket',
    key: 'video-demo/test.mp3',
    args: [
      '-f', 'lavfi', '-i', 'sine=frequency=440:duration=5',
      '-f', 'lavfi', '-i', 'smptehdbars=size=300x300:rate=25:duration=0.04',
      '-map', '0:a', '-map', '1:v', '-c:a', 'libmp3lame', '-b:a', '64k',
      '-c:v', 'mjpeg', '-disposition:v', 'attached_pic', '-id3v2_version', '3', '-f', 'mp3',
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

export async function ensureDemoMedia(store: ObjectStore, root: string, log: Logger): Promise<void> {
  for (const object of DEMO_OBJECTS) {
    if (await exists(store, object.bucket, object.key)) continue;
    // The local store's buckets are directories; creating one is how a bucket comes to exist.
    await mkdir(join(root, object.bucket), { recursive: true });
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-demo-'));
    try {
      const out = join(dir, 'out');
      log.info('generating demo media', { bucket: object.bucket, key: object.key });
      await promisify(execFile)('ffmpeg', ['-v', 'error', '-hide_banner', '-y', ...object.args, out]);
      await store.write(object.bucket, object.key, createReadStream(out));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
