// `npm run bench:storage`: what a snapshot of a large REMOTE video costs (storage issue, issue 10).
// Media: 300 s of 1080p25 H.264, ~5 Mbit/s, a keyframe every 2 s, the `moov` index at the END of the
// file (test/support/fixtures.ts longTailMoovFixture(), ~188 MB, made once by the synthesizer). Three
// backends, each a real server on this machine:
//   - local directory (file://: the engine reads the file itself) — the latency baseline;
//   - HTTP origin (the Node static server of the tests, which counts requests and body bytes);
//   - S3 (s3rver behind a proxy that counts requests and body bytes).
// For every backend, ROUNDS fresh `stillframe serve` child processes (cold block cache, no source open
// in any capture worker) each take
//   1. the first snapshot (t = 240 s): header, the index at the tail, one GOP;
//   2. a second snapshot at another time (t = 150.5 s): the worker has the source open;
//   3. LATER more snapshots at other times (median reported);
//   4. the first snapshot again (result-cache hit).
// Bytes are counted at the origin and by the server (stillframe_origin_read_bytes_total). Baselines: the
// bare ffmpeg CLIs reading the origin URL (no block cache), and a whole download. Tables on stdout and in
// bench/storage-results.md.
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3 } from '../test/support/storage.js';
import { startOrigin } from '../test/support/origin-server.js';
import { longTailMoovFixture, readFrameIndex } from '../test/support/fixtures.js';
import {
  BENCH_DIR,
  type Cli,
  cliText,
  cpuMeter,
  cpuText,
  findClis,
  fmt,
  get,
  killChildren,
  loadText,
  machineLine,
  mark,
  median,
  MEDIA_DIR,
  mib,
  progressFor,
  readMetrics,
  runTimed,
  serverTiming,
  startServer,
  table,
} from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FIRST = 240_000;
const SECOND = 150_500;
const LATER = [30_500, 75_250, 120_750, 199_100, 260_300, 290_900];
const PROCESS = (t: number) => `video/snapshot,t_${t},f_jpg,w_800`;

const progress = progressFor('bench:storage');
const pct = (b: number, size: number) => `${((100 * b) / size).toFixed(2)} %`;

interface Sample {
  ms: number;
  /** Body bytes the origin sent, and requests it answered (undefined for the local directory). */
  bytes: number;
  requests: number;
  /** Bytes and reads the server counted (stillframe_origin_read_bytes_total / _reads_total). */
  serverBytes: number;
  serverReads: number;
  st: Record<string, number>;
  ok: boolean;
}

interface Backend {
  name: string;
  env: Record<string, string>;
  counter?: { bytes(): number; requests: readonly unknown[]; reset(): void };
}

type Samples = { first: Sample[]; second: Sample[]; later: Sample[]; hit: Sample[] };

async function main(): Promise<void> {
  const wallStart = performance.now();
  const machine = machineLine();
  const clis = await findClis(progress);
  progress('generating / reusing the 300 s 1080p tail-moov fixture (first time ~1 min)');
  const long = await longTailMoovFixture();
  const size = (await stat(long.path)).size;
  // The local store refuses symlinks out of its root: a hard link (same file system), else a copy.
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
  const results = new Map<string, Samples>();
  const meter = cpuMeter(() => []);
  try {
    for (const backend of backends) {
      const r: Samples = { first: [], second: [], later: [], hit: [] };
      for (let round = 0; round < ROUNDS; round++) {
        progress(`${backend.name}: round ${round + 1}/${ROUNDS}; load ${loadText()}`);
        const state = await mkdtemp(join(tmpdir(), 'stillframe-bench-state-'));
        const server = await startServer({ ...backend.env, STILLFRAME_STATE_DIR: state });
        const snapshot = async (t: number): Promise<Sample> => {
          backend.counter?.reset();
          const m0 = await readMetrics(server.base);
          const res = await get(`${server.base}/videos/long.mp4?x-oss-process=${PROCESS(t)}`);
          const m1 = await readMetrics(server.base);
          const ok = res.status === 200 && (await readFrameIndex(res.body)) === Math.floor((t * long.fps) / 1000 + 1e-9);
          return {
            ms: res.ms,
            bytes: backend.counter?.bytes() ?? 0,
            requests: backend.counter?.requests.length ?? 0,
            serverBytes: m1('stillframe_origin_read_bytes_total') - m0('stillframe_origin_read_bytes_total'),
            serverReads: m1('stillframe_origin_reads_total') - m0('stillframe_origin_reads_total'),
            st: serverTiming(res.headers),
            ok,
          };
        };
        try {
          r.first.push(await snapshot(FIRST));
          r.second.push(await snapshot(SECOND));
          for (const t of LATER) r.later.push(await snapshot(t + round * 40));
          r.hit.push(await snapshot(FIRST));
        } finally {
          await server.stop();
          await rm(state, { recursive: true, force: true });
        }
      }
      results.set(backend.name, r);
    }

    progress('baselines: the bare ffmpeg CLIs on the origin URL');
    const bare = new Map<Cli, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of round % 2 ? [...clis].reverse() : clis) {
        origin.reset();
        const ms = await runTimed(c.ffmpeg, ['-v', 'error', '-nostdin', '-ss', String(FIRST / 1000), '-i', `${origin.base}/videos/long.mp4`, '-frames:v', '1', '-vf', 'scale=800:-2', '-f', 'image2', '-c:v', 'mjpeg', '-y', '/dev/null']);
        bare.set(c, [...(bare.get(c) ?? []), { ms, bytes: origin.bytes(), requests: origin.requests.length, serverBytes: 0, serverReads: 0, st: {}, ok: true }]);
      }
    }
    const cpu = meter.stop();

    const local = results.get(backends[0]!.name)!;
    const m = (v: Sample[], pick: (s: Sample) => number) => median(v.map(pick));
    const targets: Record<string, { limit: number; text: string }> = { first: { limit: 0.01, text: '≤ 1 %' }, second: { limit: 0.005, text: '≤ 0.5 %' } };
    let allOk = true;
    const row = (label: string, which: keyof Samples) =>
      backends.map((b) => {
        const samples = results.get(b.name)![which];
        const baseMs = m(local[which], (s) => s.ms);
        const ms = m(samples, (s) => s.ms);
        const bytes = m(samples, (s) => s.bytes);
        const target = targets[which];
        // Every round must meet the byte target, at the origin and by the server's own count.
        const pass = b.counter && target ? samples.every((s) => s.bytes <= target.limit * size && s.serverBytes <= target.limit * size) : undefined;
        if (pass === false || !samples.every((s) => s.ok)) allOk = false;
        return [
          label,
          b.name,
          b.counter ? `${mib(bytes)} (${pct(bytes, size)}); max ${pct(Math.max(...samples.map((s) => s.bytes)), size)}` : '— (reads the file)',
          b.counter ? `${mib(m(samples, (s) => s.serverBytes))} in ${fmt(m(samples, (s) => s.serverReads))} reads` : '—',
          b.counter ? fmt(m(samples, (s) => s.requests)) : '—',
          fmt(ms),
          `${fmt(m(samples, (s) => s.st.open ?? NaN), 0)} / ${fmt(m(samples, (s) => s.st.decode ?? NaN), 0)} / ${fmt(m(samples, (s) => s.st.encode ?? NaN), 0)}`,
          b.counter ? `${(ms / baseMs).toFixed(2)}×` : '1.00×',
          samples.every((s) => s.ok) ? '✅' : '❌',
          target && b.counter ? `${target.text} of the object${mark(pass)}` : '',
        ];
      });
    const headers = [
      'snapshot',
      'backend',
      'bytes from the origin (median, % of object; max over rounds)',
      'bytes the server counted (median)',
      'origin requests (median)',
      'latency ms (median)',
      'Server-Timing open / decode / encode ms',
      'vs local directory',
      'right frame',
      'target',
    ];
    const rows = [
      ...row(`first (t = ${FIRST / 1000} s, never-seen object)`, 'first'),
      ...row(`second (t = ${SECOND / 1000} s, source open)`, 'second'),
      ...row(`later (${LATER.length} other times × ${ROUNDS} rounds)`, 'later'),
      ...row('first again (result cache)', 'hit'),
    ];
    const fastest = clis.reduce((best, c) => (m(bare.get(c)!, (s) => s.ms) < m(bare.get(best)!, (s) => s.ms) ? c : best));
    const baseline = table(
      ['baseline', 'bytes from the origin (median, % of object)', 'origin requests (median)', 'latency ms (median)'],
      [
        ...clis.map((c) => [
          `${c.name} CLI \`ffmpeg -ss ${FIRST / 1000} -i http://origin/… -frames:v 1 -vf scale=800:-2\` (no block cache)${c === fastest ? ' — the faster' : ''}`,
          `${mib(m(bare.get(c)!, (s) => s.bytes))} (${pct(m(bare.get(c)!, (s) => s.bytes), size)})`,
          fmt(m(bare.get(c)!, (s) => s.requests)),
          fmt(m(bare.get(c)!, (s) => s.ms)),
        ]),
        ['whole object download', `${mib(size)} (100 %)`, '1', '—'],
      ],
    );
    const http = results.get('HTTP origin')!;
    const report = [
      '# Storage benchmark (npm run bench:storage)',
      '',
      `- Machine: ${machine}`,
      `- CLIs: ${clis.map(cliText).join('; ')}`,
      `- Object: ${(size / 1e6).toFixed(1)} MB, ${long.seconds} s ${long.width}x${long.height} ${long.fps} fps H.264 (~5 Mbit/s CBR, keyframe every ${long.gop / long.fps} s), moov at the end (${long.path.split('/').pop()})`,
      `- Block size 256 KiB (default), ${ROUNDS} rounds each with a fresh \`stillframe serve\` (cold block cache, nothing open in the capture workers); origins on loopback, page cache warm`,
      `- Output: \`${PROCESS(FIRST)}\`; "right frame" = the frame index read back from the JPEG`,
      `- CPU during the run: ${cpuText(cpu)}`,
      '',
      table(headers, rows),
      '',
      baseline,
      '',
      `HTTP origin: the first snapshot reads ${pct(m(http.first, (s) => s.bytes), size)} of the object (target ≤ 1 %), a repeat at another t ${pct(m(http.second, (s) => s.bytes), size)} (target ≤ 0.5 %); the fastest bare CLI reads ${pct(m(bare.get(fastest)!, (s) => s.bytes), size)}. All byte targets and frames: ${allOk ? '✅' : '❌'}. Total ${fmt((performance.now() - wallStart) / 1000)} s; load average at the end ${loadText()}.`,
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    await writeFile(join(BENCH_DIR, 'storage-results.md'), report);
    if (!allOk) process.exitCode = 1;
  } finally {
    await origin.close();
    await s3.close();
    await rm(root, { recursive: true, force: true });
  }
}

process.on('SIGINT', () => {
  killChildren();
  process.exit(130);
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    killChildren();
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
