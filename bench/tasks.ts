// IMM task benchmark (issue 3): `npx tsx bench/tasks.ts`. On a generated 60 s 720p H.264 file (30 fps,
// keyframe every 2 s), task wall time — CreateMediaConvertTask until GetTask says Succeeded, outputs
// written — for Interval 1 (60 frames), Interval 10 (6), keyframe and dhash, with the strategy chosen
// by the cost model (auto) and forced to each path (pass, seek), against the single-pass ffmpeg CLI
// baseline writing the same frames as JPEG in the same run. Medians of REPEAT runs; every task run reads
// a fresh object name so the probe cache is cold, as for a new upload. Markdown table on stdout.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { silentLogger } from '../src/log.js';
import { resolveBinaries } from '../src/media/binaries.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const MEDIA_DIR = join(BENCH_DIR, '.media');
const MEDIA = join(MEDIA_DIR, 'testsrc2-1280x720-30fps-60s-g60.mp4');
// The URL API benchmark's file (GOP 250 = 8.3 s), when present: Interval 10 is then barely sparser than
// the GOP, shown for honesty.
const LONG_GOP = join(MEDIA_DIR, 'testsrc2-1280x720-30fps-60s-g250.mp4');
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', GCONV_PATH: '/nonexistent' };
const progress = (msg: string) => process.stderr.write(`[bench:tasks] ${msg}\n`);

const bins = resolveBinaries({ ffmpeg: process.env.STILLFRAME_FFMPEG, ffprobe: process.env.STILLFRAME_FFPROBE });

function run(bin: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: CHILD_ENV });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${bin} exited ${code}: ${stderr.slice(-300)}`))));
  });
}

async function ensureMedia() {
  if (existsSync(MEDIA)) return;
  await mkdir(MEDIA_DIR, { recursive: true });
  progress(`generating ${MEDIA} (once, ~25 s on 2 cores; cached afterwards)`);
  const partial = `${MEDIA}.partial.mp4`;
  await run(bins.ffmpeg.path, [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=60',
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', partial,
  ]);
  await rename(partial, MEDIA);
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Server {
  url: string;
  deps: Deps;
  root: string;
  close(): Promise<void>;
}

async function startServer(strategy: string): Promise<Server> {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-bench-tasks-'));
  await mkdir(join(root, 'media'));
  const deps = await createDeps(
    loadConfig({
      STILLFRAME_STORAGE: `file://${root}`,
      STILLFRAME_DEMO: 'false',
      STILLFRAME_TASK_STRATEGY: strategy,
      STILLFRAME_FFMPEG: process.env.STILLFRAME_FFMPEG,
      STILLFRAME_FFPROBE: process.env.STILLFRAME_FFPROBE,
    }),
    { log: silentLogger },
  );
  await deps.tasks.ensureProject('bench');
  const app = createApp(deps);
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    deps,
    root,
    async close() {
      await deps.tasks.close();
      await new Promise((r) => server.close(r));
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function rpc(url: string, action: string, params: Record<string, unknown>) {
  const res = await fetch(`${url}/?Action=${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return (await res.json()) as Record<string, any>;
}

let objectSeq = 0;

/** One task on a fresh object name (cold probe); returns wall ms and the outputs written. */
async function timeTask(server: Server, media: string, snapshot: Record<string, unknown>): Promise<{ ms: number; outputs: number }> {
  const key = `v${++objectSeq}.mp4`;
  await link(media, join(server.root, 'media', key));
  const out = `out${objectSeq}`;
  const started = performance.now();
  const created = await rpc(server.url, 'CreateMediaConvertTask', {
    ProjectName: 'bench',
    Sources: [{ URI: `oss://media/${key}` }],
    Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: `oss://media/${out}/{index}.jpg`, ...snapshot }] } }],
  });
  if (!created.TaskId) throw new Error(`task refused: ${JSON.stringify(created)}`);
  for (;;) {
    const task = await rpc(server.url, 'GetTask', { ProjectName: 'bench', TaskId: created.TaskId, TaskType: 'MediaConvert' });
    if (task.Status === 'Succeeded') return { ms: performance.now() - started, outputs: task.Outputs.length };
    if (task.Status === 'Failed') throw new Error(`task failed: ${task.Code} ${task.Message}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function timeBaseline(args: (out: string) => string[]): Promise<{ ms: number; outputs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'stillframe-bench-cli-'));
  try {
    const ms = await run(bins.ffmpeg.path, args(dir));
    return { ms, outputs: (await readdir(dir)).length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Case {
  name: string;
  media: string;
  snapshot: Record<string, unknown>;
  baselineText: string;
  baseline: (out: string) => string[];
  /** dense: task ≤ 1.2 × baseline; sparse: baseline ≥ 3 × task. */
  target: 'dense' | 'sparse' | undefined;
}

const passthrough = bins.ffmpeg.version[0] > 5 || (bins.ffmpeg.version[0] === 5 && bins.ffmpeg.version[1] >= 1) ? ['-fps_mode', 'passthrough'] : ['-vsync', '0'];
const jpg = (out: string) => ['-q:v', '3', join(out, '%04d.jpg')];

function cases(): Case[] {
  const fps = (rate: string) => (o: string) => ['-v', 'error', '-i', MEDIA, '-vf', `fps=${rate}`, ...jpg(o)];
  const list: Case[] = [
    { name: 'Interval 1', media: MEDIA, snapshot: { Interval: 1 }, baselineText: '-vf fps=1', baseline: fps('1'), target: 'dense' },
    { name: 'Interval 10', media: MEDIA, snapshot: { Interval: 10 }, baselineText: '-vf fps=1/10', baseline: fps('1/10'), target: 'sparse' },
    {
      name: 'keyframe', media: MEDIA, snapshot: { Mode: 'keyframe' }, baselineText: "-vf select='eq(key,1)'", target: 'dense',
      baseline: (o) => ['-v', 'error', '-i', MEDIA, '-vf', 'select=eq(key\\,1)', ...passthrough, ...jpg(o)],
    },
    { name: 'dhash (Interval 1, Threshold 15)', media: MEDIA, snapshot: { Mode: 'dhash', Interval: 1, Threshold: 15 }, baselineText: '-vf fps=1', baseline: fps('1'), target: 'dense' },
    // For the record: the CLI at its best for key frames (the decoder skips the other frames, as the
    // task does), and Interval 10 on a file whose GOP (8.3 s) is nearly as long as the interval.
    {
      name: 'keyframe vs the CLI decoding key frames only', media: MEDIA, snapshot: { Mode: 'keyframe' }, baselineText: '-skip_frame nokey', target: undefined,
      baseline: (o) => ['-v', 'error', '-skip_frame', 'nokey', '-i', MEDIA, ...passthrough, ...jpg(o)],
    },
  ];
  if (existsSync(LONG_GOP)) {
    list.push({ name: 'Interval 10, GOP 8.3 s file', media: LONG_GOP, snapshot: { Interval: 10 }, baselineText: '-vf fps=1/10', baseline: (o) => ['-v', 'error', '-i', LONG_GOP, '-vf', 'fps=1/10', ...jpg(o)], target: undefined });
  }
  const only = process.env.BENCH_CASES;
  return only ? list.filter((c) => only.split(',').some((name) => c.name.startsWith(name))) : list;
}

async function main() {
  await ensureMedia();
  progress(`ffmpeg ${bins.ffmpeg.versionLine.slice(0, 60)} (${bins.ffmpeg.source}), ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ${REPEAT} runs per cell`);
  const loadBefore = loadavg()[0]!;
  const strategies = ['auto', 'pass', 'seek'] as const;
  const servers = Object.fromEntries(await Promise.all(strategies.map(async (s) => [s, await startServer(s)] as const))) as Record<(typeof strategies)[number], Server>;
  const rows: string[][] = [];
  let allOk = true;
  try {
    // Warm-up: page cache, the one-time ffmpeg start measurement, JIT.
    for (const s of strategies) await timeTask(servers[s], MEDIA, { Number: 1 });
    await timeBaseline((o) => ['-v', 'error', '-i', MEDIA, '-frames:v', '1', ...jpg(o)]);

    for (const c of cases()) {
      const times: Record<string, number[]> = { auto: [], pass: [], seek: [], baseline: [] };
      let outputs = 0;
      let baselineOutputs = 0;
      for (let i = 0; i < REPEAT; i++) {
        // Interleaved so that machine noise spreads over every column alike.
        const b = await timeBaseline(c.baseline);
        times.baseline!.push(b.ms);
        baselineOutputs = b.outputs;
        for (const s of strategies) {
          const t = await timeTask(servers[s], c.media, c.snapshot);
          times[s]!.push(t.ms);
          outputs = t.outputs;
        }
        progress(`${c.name}: run ${i + 1}/${REPEAT} done`);
      }
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
      const ratio = m.auto! / m.baseline!;
      const ok = c.target === 'dense' ? ratio <= 1.2 : c.target === 'sparse' ? m.baseline! / m.auto! >= 3 : undefined;
      if (ok === false) allOk = false;
      const targetText = c.target === 'dense' ? '≤ 1.2×' : c.target === 'sparse' ? '≤ 0.33× (≥ 3× faster)' : '—';
      rows.push([
        c.name,
        `${outputs}${baselineOutputs !== outputs ? ` (CLI ${baselineOutputs})` : ''}`,
        m.auto!.toFixed(0),
        m.pass!.toFixed(0),
        m.seek!.toFixed(0),
        `${m.baseline!.toFixed(0)} (\`${c.baselineText}\`)`,
        `${ratio.toFixed(2)}×`,
        `${targetText}${ok === undefined ? '' : ok ? ' ✅' : ' ❌'}`,
      ]);
    }
  } finally {
    for (const s of strategies) await servers[s].close();
  }
  const headers = ['task', 'frames', 'auto ms', 'forced pass ms', 'forced seek ms', 'single-pass CLI ms', 'auto / CLI', 'target'];
  const table = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  process.stdout.write(
    `\n### IMM task benchmark — 60 s 1280×720 H.264 30 fps, keyframe every 2 s\n\n` +
      `ffmpeg ${bins.ffmpeg.version.join('.')} (${bins.ffmpeg.source}), ${availableParallelism()} cores, median of ${REPEAT}, ` +
      `load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} (other work on the machine skews every column alike); ` +
      `task time = CreateMediaConvertTask → GetTask Succeeded (probe, frame scan, decode, JPEG encode, atomic writes).\n\n${table}\n`,
  );
  if (!allOk) process.exitCode = 1;
}

await main();
