// IMM task benchmark (issues 3 and 10): `npm run bench:tasks`. On a generated 60 s 1280x720 H.264 file
// (30 fps, keyframe every 2 s, the frame index drawn into every frame), task wall time —
// CreateMediaConvertTask until GetTask says Succeeded, every output written — against ONE single-pass
// ffmpeg CLI run writing the same frames as JPEG (`ffmpeg -i f -vf select=… %d.jpg`: the frames the task
// picks, checked by reading the frame index back from every output of both). Both CLIs of the machine
// (Debian's, the npm static build) run; per case the faster is the baseline. Each task reads a fresh
// object name, so the engine opens, probes and indexes it as for a new upload. The server is a
// `stillframe serve` child process with default settings. Runs are interleaved (CLI, task, other CLI,
// order reversed every other run); medians of REPEAT. Progress on stderr; the table on stdout and in
// bench/tasks-results.md.
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH_DIR,
  benchMedia,
  type Cli,
  cliText,
  cpuMeter,
  cpuText,
  findClis,
  fmt,
  frameIndexOf,
  killChildren,
  loadText,
  machineLine,
  mark,
  median,
  passthrough,
  progressFor,
  ratio,
  ratioText,
  readMetrics,
  runTimed,
  type Server,
  startServer,
  table,
} from './lib.js';
import type { Json } from '../test/support/json.js';

// Runs per case: more for the two cases with a target (the cores are shared: the pairs need numbers).
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const REPEAT_TARGET = Number(process.env.BENCH_REPEAT_TARGET ?? 5);
const progress = progressFor('bench:tasks');

async function rpc(url: string, action: string, params: Record<string, unknown>) {
  const res = await fetch(`${url}/?Action=${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return (await res.json()) as Json;
}

interface Run {
  ms: number;
  frames: number[];
}

interface TaskRun extends Run {
  wanted: number;
  decoded: number;
  indexMs: number;
  extractMs: number;
}

interface Case {
  name: string;
  snapshot: Record<string, unknown>;
  /** The CLI's input options (before -i) and output options writing the same frames, and a description. */
  cli: (c: Cli) => { input?: string[]; output: string[] };
  cliText: string;
  /** dense: task ≤ 1.0× the CLI; sparse: CLI ≥ 5× the task. */
  target: 'dense' | 'sparse' | undefined;
  /** Frames the task should output (to check against), when known. */
  expected?: number[];
}

async function main() {
  const wallStart = performance.now();
  const machine = machineLine();
  const clis = await findClis(progress);
  for (const c of clis) progress(cliText(c));
  const media = await benchMedia(progress, { width: 1280, height: 720, fps: 30, seconds: 60, gop: 60, preset: 'veryfast' });
  const total = media.fps * media.seconds;
  const every = (n: number) => Array.from({ length: Math.ceil(total / n) }, (_, i) => i * n);

  const root = await mkdtemp(join(tmpdir(), 'stillframe-bench-tasks-'));
  await mkdir(join(root, 'media'));
  const server: Server = await startServer({ STILLFRAME_STORAGE: `file://${root}` });
  await rpc(server.base, 'CreateProject', { ProjectName: 'bench' });
  progress(`server ${server.pid}, capture workers ${server.workers().join(', ')}`);

  let seq = 0;
  const timeTask = async (snapshot: Record<string, unknown>): Promise<TaskRun> => {
    const key = `v${++seq}.mp4`;
    await link(media.path, join(root, 'media', key));
    const out = `out${seq}`;
    const m0 = await readMetrics(server.base);
    const started = performance.now();
    const created = await rpc(server.base, 'CreateMediaConvertTask', {
      ProjectName: 'bench',
      Sources: [{ URI: `oss://media/${key}` }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: `oss://media/${out}/{index}.jpg`, ...snapshot }] } }],
    });
    if (!created.TaskId) throw new Error(`task refused: ${JSON.stringify(created)}`);
    let ms = 0;
    for (;;) {
      const task = await rpc(server.base, 'GetTask', { ProjectName: 'bench', TaskId: created.TaskId, TaskType: 'MediaConvert' });
      if (task.Status === 'Succeeded') {
        ms = performance.now() - started;
        break;
      }
      if (task.Status === 'Failed') throw new Error(`task failed: ${task.Code} ${task.Message}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const m1 = await readMetrics(server.base);
    const dir = join(root, 'media', out);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.jpg')).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    const frames = [];
    for (const n of names) frames.push(await frameIndexOf(await readFile(join(dir, n))));
    await rm(dir, { recursive: true, force: true });
    await rm(join(root, 'media', key));
    const d = (name: string, labels: Record<string, string>) => m1(name, labels) - m0(name, labels);
    return {
      ms,
      frames,
      wanted: d('stillframe_task_frames_total', { counted: 'wanted' }),
      decoded: d('stillframe_task_frames_total', { counted: 'decoded' }),
      indexMs: d('stillframe_worker_job_seconds_sum', { kind: 'index' }) * 1000,
      extractMs: d('stillframe_worker_job_seconds_sum', { kind: 'extract' }) * 1000,
    };
  };
  const runCli = async (c: Cli, k: Case): Promise<Run> => {
    const { input = [], output } = k.cli(c);
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-bench-cli-'));
    try {
      const ms = await runTimed(c.ffmpeg, ['-v', 'error', ...input, '-i', media.path, ...output, '-q:v', '3', join(dir, '%d.jpg')]);
      const names = (await readdir(dir)).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
      const frames = [];
      for (const n of names) frames.push(await frameIndexOf(await readFile(join(dir, n))));
      return { ms, frames };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  // Frame n of this constant-rate file is at n/30 s: `not(mod(n,30))` picks the frames at 0 s, 1 s, 2 s …,
  // which are the frames Interval 1 asks for (the frame shown at each multiple of the interval).
  const select = (n: number) => (c: Cli) => ({ output: ['-vf', `select=not(mod(n\\,${n}))`, ...passthrough(c)] });
  const cases: Case[] = [
    { name: 'Interval 1 (60 frames)', snapshot: { Interval: 1 }, cli: select(30), cliText: "-vf select='not(mod(n,30))'", target: 'dense', expected: every(30) },
    { name: 'Interval 10 (6 frames)', snapshot: { Interval: 10 }, cli: select(300), cliText: "-vf select='not(mod(n,300))'", target: 'sparse', expected: every(300) },
    { name: 'keyframe (30 frames)', snapshot: { Mode: 'keyframe' }, cli: (c) => ({ output: ['-vf', 'select=eq(key\\,1)', ...passthrough(c)] }), cliText: "-vf select='eq(key,1)'", target: undefined, expected: every(media.gop) },
    {
      name: 'keyframe, CLI decoding key frames only',
      snapshot: { Mode: 'keyframe' },
      cli: (c) => ({ input: ['-skip_frame', 'nokey'], output: passthrough(c) }),
      cliText: '-skip_frame nokey (before -i)',
      target: undefined,
      expected: every(media.gop),
    },
    { name: 'dhash (Interval 1, Threshold 15)', snapshot: { Mode: 'dhash', Interval: 1, Threshold: 15 }, cli: select(30), cliText: "-vf select='not(mod(n,30))' (all 60 samples)", target: undefined },
  ];
  const only = process.env.BENCH_CASES;
  const chosen = only ? cases.filter((c) => only.split(',').some((name) => c.name.startsWith(name))) : cases;

  const rows: string[][] = [];
  const detail: string[][] = [];
  const checks: string[] = [];
  let targetsOk = true;
  let framesOk = true;
  try {
    progress('warm-up: one task, one run of each CLI');
    await timeTask({ Number: 1 });
    for (const c of clis) await runCli(c, { name: 'warm-up', snapshot: {}, cli: () => ({ output: ['-frames:v', '1'] }), cliText: '', target: undefined });

    for (const k of chosen) {
      const tasks: TaskRun[] = [];
      const cliRuns: Record<string, Run[]> = Object.fromEntries(clis.map((c) => [c.name, []]));
      const meter = cpuMeter(server.pids);
      const repeat = k.target ? REPEAT_TARGET : REPEAT;
      for (let i = 0; i < repeat; i++) {
        const steps: (() => Promise<void>)[] = [
          async () => void cliRuns[clis[0]!.name]!.push(await runCli(clis[0]!, k)),
          async () => void tasks.push(await timeTask(k.snapshot)),
          async () => void (clis[1] && cliRuns[clis[1].name]!.push(await runCli(clis[1], k))),
        ];
        for (const step of i % 2 ? steps.reverse() : steps) await step();
        progress(`${k.name}: run ${i + 1}/${repeat}: task ${fmt(tasks.at(-1)!.ms)} ms, ${clis.map((c) => `${c.name} ${fmt(cliRuns[c.name]!.at(-1)!.ms)} ms`).join(', ')}; load ${loadText()}`);
      }
      const cpu = meter.stop();
      const taskMs = median(tasks.map((t) => t.ms));
      const cliMs = (c: Cli) => median(cliRuns[c.name]!.map((r) => r.ms));
      const baseline = clis.reduce((best, c) => (cliMs(c) < cliMs(best) ? c : best));
      const baseMs = cliMs(baseline);
      const r = ratio(taskMs, baseMs);
      const paired = median(tasks.map((t, i) => t.ms / cliRuns[baseline.name]![i]!.ms));
      // Judged on the paired ratios (each task run against the CLI run next to it).
      const pairedSparse = median(tasks.map((t, i) => cliRuns[baseline.name]![i]!.ms / t.ms));
      const ok = k.target === 'dense' ? paired <= 1.0 : k.target === 'sparse' ? pairedSparse >= 5 : undefined;
      // Same frames: the task's outputs against what they should be and against the CLI's.
      const taskFrames = tasks[0]!.frames;
      const same = tasks.every((t) => t.frames.join() === taskFrames.join());
      const cliFrames = cliRuns[baseline.name]![0]!.frames;
      const expectedOk = k.expected ? taskFrames.join() === k.expected.join() : true;
      const matched = k.target !== undefined || k.expected ? taskFrames.join() === cliFrames.join() : undefined;
      if (ok === false) targetsOk = false;
      if (!same || !expectedOk || matched === false) framesOk = false;
      checks.push(
        `${k.name}: task frames ${short(taskFrames)}${k.expected ? (expectedOk ? ' (as expected ✅)' : ` ❌ expected ${short(k.expected)}`) : ''}; CLI (${baseline.name}) frames ${short(cliFrames)}${matched === undefined ? ' (the CLI writes every sample; the task its selection)' : matched ? ' — the same ✅' : ' — DIFFERENT ❌'}`,
      );
      const targetText = k.target === 'dense' ? 'paired ≤ 1.0×' : k.target === 'sparse' ? 'paired: CLI ≥ 5× the task' : '—';
      rows.push([
        k.name,
        `${taskFrames.length} (CLI ${cliFrames.length})`,
        fmt(taskMs),
        ...clis.map((c) => `${fmt(cliMs(c))}${c === baseline ? ' (fastest)' : ''}`),
        `\`${k.cliText}\``,
        ratioText(r),
        ratioText(paired),
        k.target === 'sparse' ? `CLI ${ratioText(baseMs / taskMs)} the task (paired ${ratioText(pairedSparse)})` : '',
        `${targetText}${mark(ok)}`,
      ]);
      const t = (pick: (x: TaskRun) => number) => median(tasks.map(pick));
      detail.push([
        k.name,
        fmt(t((x) => x.wanted)),
        fmt(t((x) => x.decoded)),
        `${total}`,
        fmt(t((x) => x.indexMs)),
        fmt(t((x) => x.extractMs)),
        fmt(t((x) => x.ms - x.indexMs - x.extractMs)),
        fmt(baseMs),
        cpuText(cpu),
      ]);
    }
  } finally {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }

  const report = [
    '# IMM task benchmark (npm run bench:tasks)',
    '',
    `- Machine: ${machine}`,
    `- CLIs: ${clis.map(cliText).join('; ')}`,
    `- Media: ${media.describe}`,
    `- Task time = CreateMediaConvertTask → GetTask Succeeded (open, probe and index the source, plan, decode, render JPEG, atomic writes), polled every 10 ms; a fresh object name per task. CLI = one single-pass run \`ffmpeg -v error -i FILE <filters> -q:v 3 DIR/%d.jpg\`. Median of ${REPEAT_TARGET} runs for the cases with a target, ${REPEAT} for the others, interleaved.`,
    '',
    table(['task', 'frames out', 'task ms', ...clis.map((c) => `${c.name} CLI ms`), 'CLI filter', 'task / fastest CLI', 'median of paired ratios', 'sparse', 'target'], rows),
    '',
    'Where the task time goes (medians; worker job times from stillframe_worker_job_seconds, frames from stillframe_task_frames_total):',
    '',
    table(['task', 'frames wanted', 'frames decoded (engine)', 'frames decoded (CLI)', 'index job ms (open, probe, packet scan)', 'extract job ms (decode, render)', 'rest ms (RPC, planning, writes, polling)', 'fastest CLI ms', 'CPU during the case'], detail),
    '',
    'Frames (read back from every JPEG):',
    '',
    ...checks.map((c) => `- ${c}`),
    '',
    `Targets: ${targetsOk ? 'all met ✅' : 'not all met ❌'}. Frames: ${framesOk ? 'all right ✅' : 'some wrong ❌'}. Total ${fmt((performance.now() - wallStart) / 1000)} s; load average at the end ${loadText()}.`,
    '',
  ].join('\n');
  process.stdout.write(`\n${report}`);
  await writeFile(join(BENCH_DIR, 'tasks-results.md'), report);
  progress(`wrote ${join(BENCH_DIR, 'tasks-results.md')}`);
  if (!targetsOk || !framesOk) process.exitCode = 1;
}

function short(frames: number[]): string {
  return frames.length > 8 ? `${frames.slice(0, 4).join(', ')} … ${frames.slice(-2).join(', ')} (${frames.length})` : `${frames.join(', ')} (${frames.length})`;
}

process.on('SIGINT', () => {
  killChildren();
  process.exit(130);
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    killChildren();
    process.stderr.write(`[bench:tasks] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
