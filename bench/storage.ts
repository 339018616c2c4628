// `npx tsx bench/storage.ts`: what a snapshot of a large REMOTE video costs (storage issue).
// Media: 300 s of 1080p25 H.264, ~5 Mbit/s, a keyframe every 2 s, the `moov` index at the END of the
// file (the generated test fixture, ~188 MB). Three backends, each a real server on this machine:
//   - local directory (file://, ffmpeg reads the file directly) — the latency baseline;
//   - HTTP origin (the Node static server of the tests, which counts requests and body bytes);
//   - S3 (s3rver behind a proxy that counts requests and body bytes).
// For every backend, `ROUNDS` fresh stillframe servers (cold caches: probe, image, block) each take
//   1. the first snapshot (t = 240 s): probe + index + one GOP,
//   2. a second snapshot at another time (t = 150.5 s): the index is cached by ETag,
//   3. LATER more snapshots at other times (median reported),
//   4. the first snapshot again (result-cache hit).
// Baselines: the bare ffmpeg CLI reading the origin URL (no block cache) and a whole download.
// Everything runs in this process except ffmpeg; tables go to stdout and bench/storage-results.md.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { resolveBinaries } from '../src/media/binaries.js';
import { startApp, startS3, type AppServer } from '../test/source/harness.js';
import { startOrigin } from '../test/source/origin-server.js';
import { longTailMoovFixture, readFrameIndex } from '../test/support/fixtures.js';

const MEDIA_DIR = join(dirname(fileURLToPath(import.meta.url)), '.media');
const ROUNDS = 3;
const FIRST = 240_000;
const SECOND = 150_500;
const LATER = [30_500, 75_250, 120_750, 199_100, 260_300, 290_900];
const PROCESS = (t: number) => `video/snapshot,t_${t},f_jpg,w_800`;

const progress = (msg: string) => process.stderr.write(`[bench:storage] ${msg}\n`);
const median = (v: readonly number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;
const pct = (b: number, size: number) => `${((100 * b) / size).toFixed(2)} %`;
const table = (headers: string[], rows: string[][]) =>
  [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

interface Sample {
  ms: number;
  bytes: number;
  requests: number;
  ok: boolean;
}

interface Backend {
  name: string;
  env: Record<string, string>;
  /** Origin counters (undefined for the local directory). */
  counter?: { bytes(): number; requests: readonly unknown[]; reset(): void };
}

async function snapshot(app: AppServer, backend: Backend, t: number, fps: number): Promise<Sample> {
  backend.counter?.reset();
  const started = performance.now();
  const res = await fetch(`${app.url}/videos/long.mp4?x-oss-process=${PROCESS(t)}`);
  const body = Buffer.from(await res.arrayBuffer());
  const ms = performance.now() - started;
  const ok = res.status === 200 && (await readFrameIndex(body)) === Math.floor((t * fps) / 1000 + 1e-9);
  return { ms, bytes: backend.counter?.bytes() ?? 0, requests: backend.counter?.requests.length ?? 0, ok };
}

/** The bare ffmpeg CLI reading the origin URL itself (no block cache, no windows). */
async function bareFfmpeg(url: string, seconds: number): Promise<number> {
  const { ffmpeg } = resolveBinaries({ ffmpeg: process.env.STILLFRAME_FFMPEG, ffprobe: process.env.STILLFRAME_FFPROBE });
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpeg.path, ['-v', 'error', '-nostdin', '-ss', String(seconds), '-i', url, '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', '-y', '/dev/null'], {
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GCONV_PATH: '/nonexistent' },
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`))));
  });
  return performance.now() - started;
}

async function main(): Promise<void> {
  progress('generating / reusing the 300 s 1080p tail-moov fixture (first time ~30–60 s)');
  const long = await longTailMoovFixture();
  const size = (await stat(long.path)).size;
  // The local store refuses symlinks out of its root: a hard link (same file system as the fixture
  // cache, hence under bench/.media), else a copy.
  await mkdir(MEDIA_DIR, { recursive: true });
  const root = await mkdtemp(join(MEDIA_DIR, 'storage-'));
  await mkdir(join(root, 'videos'));
  await link(long.path, join(root, 'videos', 'long.mp4')).catch(() => copyFile(long.path, join(root, 'videos', 'long.mp4')));

  const origin = await startOrigin({ root, prefix: '/media' });
  progress('starting s3rver and uploading the object');
  const s3 = await startS3();
  await s3.createBucket('videos');
  await s3.client.send(new PutObjectCommand({ Bucket: 'videos', Key: 'long.mp4', Body: createReadStream(long.path), ContentLength: size }));

  const backends: Backend[] = [
    { name: 'local directory (file://)', env: { STILLFRAME_STORAGE: `file://${root}` } },
    { name: 'HTTP origin', env: { STILLFRAME_STORAGE: origin.base }, counter: origin },
    { name: 'S3 (s3rver)', env: s3.env, counter: s3.counter },
  ];
  const results = new Map<string, { first: Sample[]; second: Sample[]; later: Sample[]; hit: Sample[] }>();
  for (const backend of backends) {
    const r = { first: [] as Sample[], second: [] as Sample[], later: [] as Sample[], hit: [] as Sample[] };
    for (let round = 0; round < ROUNDS; round++) {
      progress(`${backend.name}: round ${round + 1}/${ROUNDS}`);
      const app = await startApp(backend.env);
      try {
        r.first.push(await snapshot(app, backend, FIRST, long.fps));
        r.second.push(await snapshot(app, backend, SECOND, long.fps));
        for (const t of LATER) r.later.push(await snapshot(app, backend, t + round * 40, long.fps));
        r.hit.push(await snapshot(app, backend, FIRST, long.fps));
      } finally {
        await app.close();
      }
    }
    results.set(backend.name, r);
  }

  progress('baselines: bare ffmpeg on the origin URL, whole download');
  const bare: Sample[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    origin.reset();
    const ms = await bareFfmpeg(`${origin.base}/videos/long.mp4`, FIRST / 1000);
    bare.push({ ms, bytes: origin.bytes(), requests: origin.requests.length, ok: true });
  }

  const local = results.get(backends[0]!.name)!;
  const row = (label: string, pick: (r: { first: Sample[]; second: Sample[]; later: Sample[]; hit: Sample[] }) => Sample[]) =>
    backends.map((b) => {
      const samples = pick(results.get(b.name)!);
      const base = median(pick(local).map((s) => s.ms));
      const ms = median(samples.map((s) => s.ms));
      return [
        label,
        b.name,
        b.counter ? `${mib(median(samples.map((s) => s.bytes)))} (${pct(median(samples.map((s) => s.bytes)), size)})` : '— (reads the file)',
        b.counter ? String(median(samples.map((s) => s.requests))) : '—',
        `${ms.toFixed(0)}`,
        b.counter ? `${(ms / base).toFixed(2)}×` : '1.00×',
        samples.every((s) => s.ok) ? '✅' : '❌',
      ];
    });
  const headers = ['snapshot', 'backend', 'bytes from the origin (median, % of object)', 'origin requests (median)', 'latency ms (median)', 'vs local directory', 'right frame'];
  const rows = [
    ...row(`first (t = ${FIRST / 1000} s, cold)`, (r) => r.first),
    ...row(`second (t = ${SECOND / 1000} s)`, (r) => r.second),
    ...row(`later (${LATER.length} other times, ${ROUNDS} rounds)`, (r) => r.later),
    ...row('first again (result cache)', (r) => r.hit),
  ];
  const baseline = table(
    ['baseline', 'bytes from the origin (median, % of object)', 'origin requests (median)', 'latency ms (median)'],
    [
      [`bare \`ffmpeg -ss ${FIRST / 1000} -i http://origin/… -frames:v 1\` (no block cache)`, `${mib(median(bare.map((s) => s.bytes)))} (${pct(median(bare.map((s) => s.bytes)), size)})`, String(median(bare.map((s) => s.requests))), median(bare.map((s) => s.ms)).toFixed(0)],
      ['whole object download', `${mib(size)} (100 %)`, '1', '—'],
    ],
  );
  const { ffmpeg } = resolveBinaries({ ffmpeg: process.env.STILLFRAME_FFMPEG, ffprobe: process.env.STILLFRAME_FFPROBE });
  const report = [
    '# Storage benchmark (npx tsx bench/storage.ts)',
    '',
    `- Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
    `- ffmpeg: ${ffmpeg.path} (${ffmpeg.version.join('.')})`,
    `- Object: ${(size / 1e6).toFixed(1)} MB, 300 s 1920x1080 25 fps H.264 (~5 Mbit/s CBR, keyframe every 2 s), moov at the end (${long.path.split('/').pop()})`,
    `- Block size 256 KiB (default), ${ROUNDS} rounds each with a fresh server (cold probe, image and block caches); origins on loopback, page cache warm`,
    `- Output: \`${PROCESS(FIRST)}\`; "right frame" = the frame index read back from the JPEG`,
    '',
    table(headers, rows),
    '',
    baseline,
    '',
  ].join('\n');
  process.stdout.write(`${report}\n`);
  await writeFile(join(dirname(fileURLToPath(import.meta.url)), 'storage-results.md'), report);

  await origin.close();
  await s3.close();
  await rm(root, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
