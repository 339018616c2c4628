// `npm run bench:previews`: the on-the-fly player previews (docs/previews.md) against the bare ffmpeg CLI
// doing the same work, in one run, on one `stillframe serve` (default settings, access log at info level to
// a file, as deployed), with the 60 s 720p medium (1280×720, 30 fps, GOP 250, libx264 medium; the one of
// bench/run.ts and bench/hits.ts):
//   1. storyboard    `video/storyboard,f_vtt,inter_1000,sw_160,sh_90,tw_10,th_6` then the one sheet it lists
//                    (60 tiles of 160×90), cold: each round on its own copy of the file (another inode, so
//                    another ETag: no result, index or open source is reused); wall time of the two requests.
//                    Against one bare CLI pass making the same sheet:
//                    `ffmpeg -v error -i in.mp4 -vf fps=1,scale=160:90,tile=10x6 -frames:v 1 -q:v 3 out.jpg`.
//                    Then the same two requests again: cache hits (X-Cache: HIT) and their time.
//   2. animation     `video/animation,ss_10000,d_3000,fps_10,w_320,f_webp` cold (another copy per round)
//                    against `ffmpeg -v error -ss 10 -t 3 -i in.mp4 -vf fps=10,scale=320:-2 -loop 0
//                    -c:v libwebp_anim -quality 80 out.webp` (libwebp where the CLI lacks libwebp_anim; 80 is
//                    stillframe's default WebP quality).
// Every CLI of bench/lib.ts findClis runs each round; the fastest (by median) is the baseline. Server and
// CLIs alternate (order swapped every round); medians, the median of paired ratios (server / fastest CLI of
// the same round), the Server-Timing split, the capture-worker job time (stillframe_worker_job_seconds by
// kind) and the CPU meter. Progress on stderr; the tables on stdout and in bench/previews-results.md.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  runBench,
  BENCH_DIR,
  benchMedia,
  type Cli,
  cliText,
  cpuMeter,
  cpuText,
  findClis,
  fmt,
  frameIndexOf,
  getOk,
  killChildren,
  loadText,
  machineLine,
  mark,
  median,
  type Metrics,
  p90,
  progressFor,
  ratio,
  ratioText,
  readMetrics,
  ROOT,
  runTimed,
  serverTiming,
  startServer,
  table,
} from './lib.js';

const progress = progressFor('previews');
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 7));
const TARGET = 1.2;
const STORYBOARD = 'video/storyboard,f_vtt,inter_1000,sw_160,sh_90,tw_10,th_6';
const ANIMATION = 'video/animation,ss_10000,d_3000,fps_10,w_320,f_webp';
const SHEET = { width: 1600, height: 540 };
const ANIM = { width: 320, height: 180, frames: 30 };
const JOB_KINDS = ['index', 'extract'] as const;

type Jobs = Record<(typeof JOB_KINDS)[number], { seconds: number; count: number }>;

function jobsBetween(before: Metrics, after: Metrics): Jobs {
  const out = {} as Jobs;
  for (const kind of JOB_KINDS) {
    out[kind] = {
      seconds: after('stillframe_worker_job_seconds_sum', { kind }) - before('stillframe_worker_job_seconds_sum', { kind }),
      count: after('stillframe_worker_job_seconds_count', { kind }) - before('stillframe_worker_job_seconds_count', { kind }),
    };
  }
  return out;
}

interface Timed {
  ms: number;
  cache: string;
  timing: Record<string, number>;
  size: number;
}

const timed = (r: Awaited<ReturnType<typeof getOk>>): Timed => ({ ms: r.ms, cache: String(r.headers['x-cache']), timing: serverTiming(r.headers), size: r.body.length });

interface StoryboardRun {
  /** Wall time of VTT + sheet, from the first request's start to the sheet's last byte. */
  ms: number;
  vtt: Timed;
  sheet: Timed;
  jobs: Jobs;
  width: number;
  height: number;
  cues: number;
  /** The same two requests once more. */
  hitMs: number;
  hits: [Timed, Timed];
}

interface AnimationRun {
  ms: number;
  anim: Timed;
  jobs: Jobs;
  width: number;
  pageHeight: number;
  pages: number;
  hit: Timed;
  firstFrame?: number;
}

async function storyboardRound(base: string, key: string): Promise<StoryboardRun> {
  const url = `${base}/media/${key}?x-oss-process=${encodeURIComponent(STORYBOARD)}`;
  const before = await readMetrics(base);
  const started = performance.now();
  const vtt = await getOk(url);
  const text = vtt.body.toString('utf8');
  const sheetUrls = [...new Set([...text.matchAll(/^(http\S+?)#xywh=/gm)].map((m) => m[1]!))];
  if (sheetUrls.length !== 1) throw new Error(`the storyboard lists ${sheetUrls.length} sheets, not 1:\n${text.slice(0, 400)}`);
  const sheet = await getOk(sheetUrls[0]!);
  const ms = performance.now() - started;
  const jobs = jobsBetween(before, await readMetrics(base));
  const cues = [...text.matchAll(/#xywh=/g)].length;
  const meta = await sharp(sheet.body).metadata();
  const hitStarted = performance.now();
  const vttAgain = await getOk(url);
  const sheetAgain = await getOk(sheetUrls[0]!);
  const hitMs = performance.now() - hitStarted;
  return { ms, vtt: timed(vtt), sheet: timed(sheet), jobs, width: meta.width, height: meta.height, cues, hitMs, hits: [timed(vttAgain), timed(sheetAgain)] };
}

async function animationRound(base: string, key: string, checkFrame: boolean): Promise<AnimationRun> {
  const url = `${base}/media/${key}?x-oss-process=${encodeURIComponent(ANIMATION)}`;
  const before = await readMetrics(base);
  const r = await getOk(url);
  const jobs = jobsBetween(before, await readMetrics(base));
  const meta = await sharp(r.body, { animated: true }).metadata();
  const hit = timed(await getOk(url));
  const firstFrame = checkFrame ? await firstFrameOf(r.body) : undefined;
  return { ms: r.ms, anim: timed(r), jobs, width: meta.width, pageHeight: meta.pageHeight ?? meta.height, pages: meta.pages ?? 1, hit, firstFrame };
}

/** The frame index drawn into the first frame of an animated WebP (undefined when it cannot be read). */
async function firstFrameOf(webp: Buffer): Promise<number | undefined> {
  try {
    return await frameIndexOf(await sharp(webp, { page: 0 }).png().toBuffer());
  } catch {
    return undefined;
  }
}

interface CliOut {
  ms: number;
  width: number;
  height: number;
  pages: number;
  size: number;
  firstFrame?: number;
}

async function cliRun(bin: string, args: string[], out: string, checkFrame = false): Promise<CliOut> {
  await rm(out, { force: true });
  const ms = await runTimed(bin, ['-y', ...args, out]);
  const meta = await sharp(out, { animated: true }).metadata();
  const { size } = await stat(out);
  const firstFrame = checkFrame ? await firstFrameOf(await sharp(out, { page: 0 }).png().toBuffer()) : undefined;
  return { ms, width: meta.width, height: meta.pageHeight ?? meta.height, pages: meta.pages ?? 1, size, firstFrame };
}

const sheetArgs = (input: string) => ['-v', 'error', '-i', input, '-vf', 'fps=1,scale=160:90,tile=10x6', '-frames:v', '1', '-q:v', '3'];

function webpEncoder(cli: Cli): string {
  const list = execFileSync(cli.ffmpeg, ['-hide_banner', '-encoders'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return /\slibwebp_anim\s/.test(list) ? 'libwebp_anim' : 'libwebp';
}

const animArgs = (input: string, encoder: string) => ['-v', 'error', '-ss', '10', '-t', '3', '-i', input, '-vf', 'fps=10,scale=320:-2', '-loop', '0', '-c:v', encoder, '-quality', '80'];

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineLine();
  const commit = gitCommit();
  const clis = await findClis(progress);
  for (const c of clis) progress(cliText(c));
  const encoders = Object.fromEntries(clis.map((c) => [c.name, webpEncoder(c)]));
  const media = await benchMedia(progress, { width: 1280, height: 720, fps: 30, seconds: 60, gop: 250, preset: 'medium' });
  const work = await mkdtemp(join(tmpdir(), 'stillframe-previews-'));
  const out: string[] = [
    '# Previews (npm run bench:previews)',
    '',
    `- ${machine}`,
    `- stillframe: \`node bin/stillframe.js serve\` built from dist/ (commit ${commit}), default settings (one capture worker per core, JPEG quality 85, WebP quality 80), access log at info level (JSON lines to a file), local directory storage`,
    `- CLIs: ${clis.map((c) => `${cliText(c)}, WebP encoder ${encoders[c.name]}`).join('; ')}`,
    `- Source: ${media.describe}. Each cold round uses its own copy of the file (another inode: another ETag), written just before the runs (page cache warm); the CLIs read the same copy.`,
    `- ${ROUNDS} rounds per part after one warm-up round; server and CLIs alternate, order swapped every round.`,
    '',
  ];
  const emit = (lines: string[]) => {
    process.stdout.write(`${lines.join('\n')}\n`);
    out.push(...lines);
  };
  try {
    const dir = join(work, 'data', 'media');
    await mkdir(dir, { recursive: true });
    const keys = { sb: [] as string[], an: [] as string[] };
    progress(`copying the medium ${2 * (ROUNDS + 1)} times into ${dir}`);
    for (let i = 0; i <= ROUNDS; i++) {
      for (const part of ['sb', 'an'] as const) {
        const key = `${part}-${i}.mp4`;
        await copyFile(media.path, join(dir, key));
        keys[part].push(key);
      }
    }
    const server = await startServer({ STILLFRAME_STORAGE: `file://${join(work, 'data')}`, STILLFRAME_LOG_LEVEL: 'info' }, { logFile: join(work, 'access.log') });
    const outFile = (c: Cli, ext: string) => join(work, `out-${c.name}.${ext}`);

    // ------------------------------------------------------------------------------- 1. storyboard
    progress('storyboard: warm-up round (copy 0, each CLI once)');
    await storyboardRound(server.base, keys.sb[0]!);
    for (const c of clis) await cliRun(c.ffmpeg, sheetArgs(join(dir, keys.sb[0]!)), outFile(c, 'jpg'));
    const sbRuns: StoryboardRun[] = [];
    const sbCli: Record<string, CliOut[]> = Object.fromEntries(clis.map((c) => [c.name, []]));
    const sbMeter = cpuMeter(() => server.pids());
    for (let round = 1; round <= ROUNDS; round++) {
      const key = keys.sb[round]!;
      const steps = [
        async () => void sbRuns.push(await storyboardRound(server.base, key)),
        ...clis.map((c) => async () => void sbCli[c.name]!.push(await cliRun(c.ffmpeg, sheetArgs(join(dir, key)), outFile(c, 'jpg')))),
      ];
      for (const step of round % 2 ? steps : [...steps].reverse()) await step();
      const s = sbRuns.at(-1)!;
      progress(
        `storyboard ${round}/${ROUNDS}: server ${fmt(s.ms)} ms (vtt ${fmt(s.vtt.ms)} ${s.vtt.cache}, sheet ${fmt(s.sheet.ms)} ${s.sheet.cache}; again ${fmt(s.hitMs, 1)} ms ${s.hits.map((h) => h.cache).join('+')}), ${clis.map((c) => `${c.name} ${fmt(sbCli[c.name]!.at(-1)!.ms)} ms`).join(', ')}; load ${loadText()}`,
      );
    }
    const sbCpu = sbMeter.stop();

    // -------------------------------------------------------------------------------- 2. animation
    progress('animation: warm-up round (copy 0, each CLI once)');
    await animationRound(server.base, keys.an[0]!, false);
    for (const c of clis) await cliRun(c.ffmpeg, animArgs(join(dir, keys.an[0]!), encoders[c.name]!), outFile(c, 'webp'));
    const anRuns: AnimationRun[] = [];
    const anCli: Record<string, CliOut[]> = Object.fromEntries(clis.map((c) => [c.name, []]));
    const anMeter = cpuMeter(() => server.pids());
    for (let round = 1; round <= ROUNDS; round++) {
      const key = keys.an[round]!;
      const steps = [
        async () => void anRuns.push(await animationRound(server.base, key, round === 1)),
        ...clis.map((c) => async () => void anCli[c.name]!.push(await cliRun(c.ffmpeg, animArgs(join(dir, key), encoders[c.name]!), outFile(c, 'webp'), round === 1))),
      ];
      for (const step of round % 2 ? steps : [...steps].reverse()) await step();
      const a = anRuns.at(-1)!;
      progress(`animation ${round}/${ROUNDS}: server ${fmt(a.ms)} ms ${a.anim.cache} (again ${fmt(a.hit.ms, 1)} ms ${a.hit.cache}), ${clis.map((c) => `${c.name} ${fmt(anCli[c.name]!.at(-1)!.ms)} ms`).join(', ')}; load ${loadText()}`);
    }
    const anCpu = anMeter.stop();
    await server.stop();

    // ------------------------------------------------------------------------------------- checks
    for (const r of sbRuns) {
      if (r.vtt.cache !== 'MISS' || r.sheet.cache !== 'MISS') throw new Error(`a cold storyboard round was not a miss: ${r.vtt.cache} / ${r.sheet.cache}`);
      if (r.width !== SHEET.width || r.height !== SHEET.height || r.cues !== 60) throw new Error(`the sheet is ${r.width}×${r.height} with ${r.cues} cues`);
    }
    for (const runs of Object.values(sbCli)) for (const r of runs) if (r.width !== SHEET.width || r.height !== SHEET.height) throw new Error(`a CLI sheet is ${r.width}×${r.height}`);
    for (const r of anRuns) {
      if (r.anim.cache !== 'MISS') throw new Error(`a cold animation was a ${r.anim.cache}`);
      if (r.width !== ANIM.width || r.pageHeight !== ANIM.height || r.pages !== ANIM.frames) throw new Error(`the animation is ${r.width}×${r.pageHeight}, ${r.pages} frames`);
    }
    const sbHitsOk = sbRuns.every((r) => r.hits.every((h) => h.cache === 'HIT'));
    const anHitsOk = anRuns.every((r) => r.hit.cache === 'HIT');

    // ------------------------------------------------------------------------------------- tables
    const fastest = (runs: Record<string, CliOut[]>) => clis.reduce((best, c) => (median(runs[c.name]!.map((r) => r.ms)) < median(runs[best.name]!.map((r) => r.ms)) ? c : best));
    const part = (title: string, serverMs: number[], cliRuns: Record<string, CliOut[]>, serverOut: string, cliOut: (r: CliOut) => string) => {
      const base = fastest(cliRuns);
      const baseMs = cliRuns[base.name]!.map((r) => r.ms);
      const paired = serverMs.map((ms, i) => ratio(ms, baseMs[i]!));
      const verdict = median(paired);
      return {
        verdict,
        base,
        rows: [
          [
            title,
            serverMs.map((m) => fmt(m)).join(' / '),
            `${fmt(median(serverMs))} / ${fmt(p90(serverMs))}`,
            serverOut,
            ratioText(ratio(median(serverMs), median(baseMs))),
            `**${ratioText(verdict)}**`,
            `≤ ${TARGET.toFixed(1)}×${mark(verdict <= TARGET)}`,
          ],
          ...clis.map((c) => {
            const ms = cliRuns[c.name]!.map((r) => r.ms);
            return [
              `${c.name} CLI (${c.versionLine.replace(/^ffmpeg version /, '')})${c === base ? ', fastest: the baseline' : ''}`,
              ms.map((m) => fmt(m)).join(' / '),
              `${fmt(median(ms))} / ${fmt(p90(ms))}`,
              cliOut(cliRuns[c.name]![0]!),
              c === base ? '1.00×' : ratioText(ratio(median(ms), median(baseMs))),
              '',
              '',
            ];
          }),
        ],
      };
    };
    const headers = ['', 'ms per round', 'ms median / p90', 'output', 'ratio of medians to the fastest CLI', 'median of paired ratios', 'target'];
    const kib = (b: number) => `${fmt(b / 1024, 1)} KiB`;
    const st = (runs: Timed[], name: string) => median(runs.map((r) => r.timing[name] ?? NaN));
    const jobMs = (runs: { jobs: Jobs }[], kind: keyof Jobs) => median(runs.map((r) => (r.jobs[kind].seconds * 1000) / Math.max(1, r.jobs[kind].count)));
    const jobCount = (runs: { jobs: Jobs }[], kind: keyof Jobs) => median(runs.map((r) => r.jobs[kind].count));

    const sb = part(
      'stillframe: VTT + sheet, cold (client wall time)',
      sbRuns.map((r) => r.ms),
      sbCli,
      `VTT ${sbRuns[0]!.cues} cues (${kib(sbRuns[0]!.vtt.size)}), sheet ${SHEET.width}×${SHEET.height} JPEG q85 ${kib(median(sbRuns.map((r) => r.sheet.size)))}`,
      (r) => `${r.width}×${r.height} JPEG -q:v 3, ${kib(r.size)}`,
    );
    const sbHitMs = sbRuns.map((r) => r.hitMs);
    emit([
      `## 1. Storyboard: \`${STORYBOARD}\` + its sheet`,
      '',
      `Cold: the VTT, then the one sheet URL it lists (60 tiles, 10 × 6 of 160×90), on a never-seen copy each round; every answer \`X-Cache: MISS\`. Baseline: one bare CLI pass, \`ffmpeg -v error -i in.mp4 -vf fps=1,scale=160:90,tile=10x6 -frames:v 1 -q:v 3 out.jpg\`. CPU during the section: ${cpuText(sbCpu)}.`,
      '',
      table(headers, sb.rows),
      '',
      table(
        ['Where the server\'s time goes (medians, ms)', 'client', 'Server-Timing open', 'decode', 'encode', 'total', 'worker jobs (count × median ms each)'],
        [
          ['VTT (probe + index, timeline)', fmt(median(sbRuns.map((r) => r.vtt.ms)), 1), fmt(st(sbRuns.map((r) => r.vtt), 'open'), 1), fmt(st(sbRuns.map((r) => r.vtt), 'decode'), 1), fmt(st(sbRuns.map((r) => r.vtt), 'encode'), 1), fmt(st(sbRuns.map((r) => r.vtt), 'total'), 1), `index ${fmt(jobCount(sbRuns, 'index'))} × ${fmt(jobMs(sbRuns, 'index'), 1)}`],
          ['sheet (60 frames decoded in one walk at 160×90, composed, JPEG)', fmt(median(sbRuns.map((r) => r.sheet.ms)), 1), fmt(st(sbRuns.map((r) => r.sheet), 'open'), 1), fmt(st(sbRuns.map((r) => r.sheet), 'decode'), 1), fmt(st(sbRuns.map((r) => r.sheet), 'encode'), 1), fmt(st(sbRuns.map((r) => r.sheet), 'total'), 1), `extract ${fmt(jobCount(sbRuns, 'extract'))} × ${fmt(jobMs(sbRuns, 'extract'), 1)}`],
        ],
      ),
      '',
      `Second request for the same storyboard + sheet: ${sbRuns.map((r) => r.hits.map((h) => h.cache).join(' + ')).join(', ')}${mark(sbHitsOk)}; ${fmt(median(sbHitMs), 1)} ms median for both (p90 ${fmt(p90(sbHitMs), 1)}; VTT ${fmt(median(sbRuns.map((r) => r.hits[0].ms)), 1)}, sheet ${fmt(median(sbRuns.map((r) => r.hits[1].ms)), 1)}).`,
      '',
    ]);

    const an = part(
      'stillframe: animation, cold (client wall time)',
      anRuns.map((r) => r.ms),
      anCli,
      `${anRuns[0]!.width}×${anRuns[0]!.pageHeight}, ${anRuns[0]!.pages} frames, WebP q80 effort 2, ${kib(median(anRuns.map((r) => r.anim.size)))}`,
      (r) => `${r.width}×${r.height}, ${r.pages} frames, ${kib(r.size)}`,
    );
    const anTiming = anRuns.map((r) => r.anim);
    emit([
      `## 2. Animated preview: \`${ANIMATION}\``,
      '',
      `Cold, a never-seen copy each round; every answer \`X-Cache: MISS\`. Baseline: \`ffmpeg -v error -ss 10 -t 3 -i in.mp4 -vf fps=10,scale=320:-2 -loop 0 -c:v <encoder> -quality 80 out.webp\` (${clis.map((c) => `${c.name}: ${encoders[c.name]}`).join(', ')}; libwebp's default method 4, stillframe asks sharp for effort 2). CPU during the section: ${cpuText(anCpu)}.`,
      '',
      table(headers, an.rows),
      '',
      table(
        ['Where the server\'s time goes (medians, ms)', 'client', 'Server-Timing open (probe + index)', 'decode (worker walk, 30 frames at 320×180)', 'encode (animated WebP)', 'total', 'worker jobs (count × median ms each)'],
        [['animation', fmt(median(anRuns.map((r) => r.ms)), 1), fmt(st(anTiming, 'open'), 1), fmt(st(anTiming, 'decode'), 1), fmt(st(anTiming, 'encode'), 1), fmt(st(anTiming, 'total'), 1), `index ${fmt(jobCount(anRuns, 'index'))} × ${fmt(jobMs(anRuns, 'index'), 1)}, extract ${fmt(jobCount(anRuns, 'extract'))} × ${fmt(jobMs(anRuns, 'extract'), 1)}`]],
      ),
      '',
      `First frame read back from the frame code (frame 300 is the one shown at 10 s): stillframe ${anRuns[0]!.firstFrame ?? 'unreadable'}, ${clis.map((c) => `${c.name} CLI ${anCli[c.name]![0]!.firstFrame ?? 'unreadable'}`).join(', ')}. Second request: ${anRuns.map((r) => r.hit.cache).join(', ')}${mark(anHitsOk)}, ${fmt(median(anRuns.map((r) => r.hit.ms)), 1)} ms median.`,
      '',
      `Whole run: ${fmt((performance.now() - started) / 1000)} s; load average at the end ${loadText()}.`,
      '',
    ]);
    await writeFile(join(BENCH_DIR, 'previews-results.md'), out.join('\n'));
  } finally {
    killChildren();
    await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
