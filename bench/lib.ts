// Shared by the benchmarks (bench/run.ts, tasks.ts, storage.ts, scale.ts): statistics and tables, the
// machine description, the ffmpeg CLI baselines (Debian's and the npm static build, installed on
// demand into bench/.cli), the generated media (bench/.media, made with src/media/synthesize.ts — no CLI
// needed), a `stillframe serve` child process and what can be read about it from outside (metrics,
// Server-Timing, its capture worker processes in /proc), and a meter of CPU used by other work on the
// machine during a measurement (the 2 cores are shared).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFFmpegInfo } from 'node-av';
import sharp from 'sharp';
import { synthesize } from '../src/media/synthesize.js';
import { frameCodeGraph, readFrameIndex } from '../test/support/fixtures.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');
export const MEDIA_DIR = join(BENCH_DIR, '.media');
export const CLI_DIR = join(BENCH_DIR, '.cli');

export function progressFor(tag: string): (msg: string) => void {
  return (msg) => process.stderr.write(`[${tag}] ${msg}\n`);
}

// ------------------------------------------------------------------------------------------ numbers

export function quantile(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
export const median = (v: readonly number[]) => quantile(v, 0.5);
export const p90 = (v: readonly number[]) => quantile(v, 0.9);
export const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);
export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
export const ratioText = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');
export const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? ' ✅' : ' ❌');
export const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

export function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ------------------------------------------------------------------------------------------ machine

export function cpuModel(): string {
  return /^model name\s*:\s*(.+)$/m.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
}

export const loadText = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

/** One line for a results file: CPU, cores, Node, the engine's FFmpeg, date, load average. */
export function machineLine(): string {
  return `${cpuModel()}, ${availableParallelism()} cores, Node ${process.version}, FFmpeg ${getFFmpegInfo().version} (node-av, in the capture workers), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average (1/5/15 min) at start ${loadText()}`;
}

// -------------------------------------------------------------------------------------- CPU meter

function procTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14–17 (1-based) of the whole line: 11–14 after the state.
    return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = sum(line.slice(0, 8));
  const idle = line[3]! + line[4]!;
  return { busy: total - idle, total };
}

export interface CpuReading {
  /** Cores busy on average over the interval, all processes. */
  machine: number;
  /** Cores used by the processes measured (the bench itself, its children once reaped, the server and its workers). */
  ours: number;
  /** machine − ours: other engineers' work. */
  others: number;
  seconds: number;
}

/** This process and all its descendants (server, capture workers, nginx and its workers, CLI runs). */
export function ourProcesses(): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!ours.has(pid) && ours.has(parent)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  return [...ours];
}

/**
 * Measures how busy the machine was between start and stop, and how much of it was not us: our
 * processes are this one and its descendants (plus `pids()`); processes that ended meanwhile count
 * through their parent's cutime/cstime once reaped.
 */
export function cpuMeter(pids: () => number[] = () => []): { stop(): CpuReading } {
  const hz = 100; // USER_HZ on Linux
  const cores = availableParallelism();
  const list = () => [...new Set([...ourProcesses(), ...pids()])];
  const start = machineTicks();
  const started = performance.now();
  const before = new Map(list().map((p) => [p, procTicks(p) ?? 0]));
  return {
    stop() {
      const end = machineTicks();
      const seconds = (performance.now() - started) / 1000;
      let ours = 0;
      for (const p of new Set([...before.keys(), ...list()])) {
        const now = procTicks(p);
        if (now !== undefined) ours += now - (before.get(p) ?? now);
      }
      const machine = ((end.busy - start.busy) / Math.max(1, end.total - start.total)) * cores;
      const oursCores = ours / hz / Math.max(0.001, seconds);
      return { machine, ours: oursCores, others: Math.max(0, machine - oursCores), seconds };
    },
  };
}

export const cpuText = (r: CpuReading) => `machine ${r.machine.toFixed(2)} cores busy, ours ${r.ours.toFixed(2)}, others ${r.others.toFixed(2)}`;

// -------------------------------------------------------------------------------------- processes

export const children = new Set<ChildProcess>();

/** Runs a benchmark's main: on failure, its children are killed and the error printed, exit code 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    killChildren();
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** Stops a child with `signal`; SIGKILL after 5 s. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return res();
    }
    child.once('exit', () => {
      children.delete(child);
      res();
    });
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

// A bare environment for the CLI, like the one the old engine gave ffmpeg.
const CLI_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', GCONV_PATH: '/nonexistent' };

/** Runs a process to completion; wall time (ms) from spawn to exit. */
export function runTimed(bin: string, args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: CLI_ENV });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) res(ms);
      else rej(new Error(`${bin} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}

export interface ProcStatus {
  rss: number;
  hwm: number;
  fds: number;
  threads: number;
}

export function procStatus(pid: number): ProcStatus | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** What a process's fds point at, grouped ("pipe", "socket", "anon_inode:[eventfd]", "/path" …) → count. */
export function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target = 'gone';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        // closed meanwhile
      }
      const kind = /^(pipe|socket):/.exec(target)?.[1] ?? (target.startsWith('/') ? 'file' : target);
      out[kind] = (out[kind] ?? 0) + 1;
    }
  } catch {
    // exited
  }
  return out;
}

/** Live children of `parent` whose command line contains `needle` (capture workers: "engine/worker"). */
export function childPids(parent: number, needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) !== parent || rest[0] === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

// ------------------------------------------------------------------------------------------- CLIs

export interface Cli {
  /** "debian" or "static". */
  name: string;
  ffmpeg: string;
  ffprobe: string | undefined;
  versionLine: string;
  /** Median wall time of a trivial run (1 frame of nullsrc to null): the start-up cost. */
  startMs: number;
  /** major.minor as numbers ([4, 1] for the 2018 static build). */
  version: [number, number];
}

function versionOf(bin: string): { line: string; version: [number, number] } {
  const line = execFileSync(bin, ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  const m = /version n?(\d+)\.(\d+)/.exec(line);
  // Static git builds say "N-47683-g…": the 2018 snapshot the npm package ships is FFmpeg 4.1-dev.
  return { line: line.replace(/\s*Copyright.*$/, ''), version: m ? [Number(m[1]), Number(m[2])] : [4, 1] };
}

/**
 * The ffmpeg CLIs of the machine: Debian's (/usr/bin/ffmpeg, dynamically linked) and the static build
 * the npm package @ffmpeg-installer ships (installed into bench/.cli on first use, its binaries inside the
 * tarballs; install scripts are not run — their only job, chmod, is done here). BENCH_NO_NPM_CLI=1 skips
 * the install.
 */
export async function findClis(progress: (msg: string) => void): Promise<Cli[]> {
  const found: { name: string; ffmpeg: string; ffprobe: string | undefined }[] = [];
  const debian = ['/usr/bin/ffmpeg', process.env.STILLFRAME_BENCH_FFMPEG].find((p): p is string => !!p && existsSync(p));
  if (debian) found.push({ name: 'debian', ffmpeg: debian, ffprobe: existsSync('/usr/bin/ffprobe') ? '/usr/bin/ffprobe' : undefined });
  const platform = `${process.platform}-${process.arch}`;
  const staticFfmpeg = join(CLI_DIR, 'node_modules', '@ffmpeg-installer', platform, 'ffmpeg');
  const staticFfprobe = join(CLI_DIR, 'node_modules', '@ffprobe-installer', platform, 'ffprobe');
  if (!existsSync(staticFfmpeg) && process.env.BENCH_NO_NPM_CLI !== '1') {
    progress(`installing the npm static ffmpeg/ffprobe into ${CLI_DIR} (once)`);
    await mkdir(CLI_DIR, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', CLI_DIR, '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel', 'error', '@ffmpeg-installer/ffmpeg', '@ffprobe-installer/ffprobe'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) progress(`npm install failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')} — the static CLI is left out`);
  }
  if (existsSync(staticFfmpeg)) {
    for (const bin of [staticFfmpeg, staticFfprobe]) if (existsSync(bin)) chmodSync(bin, 0o755);
    found.push({ name: 'static', ffmpeg: staticFfmpeg, ffprobe: existsSync(staticFfprobe) ? staticFfprobe : undefined });
  }
  if (!found.length) throw new Error('no ffmpeg CLI found: apt-get install ffmpeg, or let the bench install the npm static build');
  const clis: Cli[] = [];
  for (const f of found) {
    const { line, version } = versionOf(f.ffmpeg);
    const starts: number[] = [];
    for (let i = 0; i < 7; i++) starts.push(await runTimed(f.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'nullsrc=s=16x16', '-frames:v', '1', '-f', 'null', '-']));
    clis.push({ ...f, versionLine: line, version, startMs: median(starts) });
  }
  return clis;
}

export const cliText = (c: Cli) => `${c.name}: ${c.ffmpeg} — ${c.versionLine}; start-up ${fmt(c.startMs, 1)} ms (median of 7 trivial runs)`;

/** `-fps_mode passthrough` where the CLI has it (5.1+), else `-vsync 0`. */
export const passthrough = (c: Cli) => (c.version[0] > 5 || (c.version[0] === 5 && c.version[1] >= 1) ? ['-fps_mode', 'passthrough'] : ['-vsync', '0']);

// ------------------------------------------------------------------------------------------ media

export interface BenchMedia {
  path: string;
  name: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  gop: number;
  size: number;
  /** What it is, for a results header. */
  describe: string;
}

// The frame index is drawn in the top-left corner (the frame code of the test fixtures, CODE_W × CODE_H):
// the bench reads it back from every output to check that it is the right frame.
const CODE_W = 320;
const CODE_H = 80;
const MEDIA_RECIPE = 'c1';

/**
 * testsrc2 (moving colour bars, noise-free) at width×height with the frame code over its top-left corner,
 * H.264 (libx264 `preset`, keyframe every `gop` frames, no scene-cut keyframes), yuv420p, MP4 +faststart.
 * Generated once into bench/.media with the synthesizer (FFmpeg 8 in process, no CLI).
 */
export async function benchMedia(
  progress: (msg: string) => void,
  spec: { width: number; height: number; fps: number; seconds: number; gop: number; preset: string; container?: 'mp4' | 'matroska' | 'mpegts' },
): Promise<BenchMedia> {
  const container = spec.container ?? 'mp4';
  const ext = { mp4: 'mp4', matroska: 'mkv', mpegts: 'ts' }[container];
  const name = `testsrc2-code-${spec.width}x${spec.height}-${spec.fps}fps-${spec.seconds}s-g${spec.gop}-${spec.preset}-${MEDIA_RECIPE}.${ext}`;
  const path = join(MEDIA_DIR, name);
  if (!existsSync(path)) {
    await mkdir(MEDIA_DIR, { recursive: true });
    progress(`generating ${path} with the synthesizer (once; cached afterwards)`);
    const partial = join(MEDIA_DIR, `partial-${process.pid}-${name}`);
    const scale = Math.min(1, spec.width / 1280);
    const code = frameCodeGraph({ fps: spec.fps, width: Math.round((CODE_W * scale) / 16) * 16, height: Math.round((CODE_H * scale) / 2) * 2 });
    const started = performance.now();
    try {
      await synthesize({
        output: partial,
        format: container,
        formatOptions: container === 'mp4' ? { movflags: '+faststart' } : {},
        video: {
          graph: `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps},format=yuv420p[bg];${code},format=yuv420p[code];[bg][code]overlay=x=0:y=0`,
          frames: spec.fps * spec.seconds,
          encoder: 'libx264',
          pixelFormat: 'yuv420p',
          options: { preset: spec.preset, 'x264-params': `keyint=${spec.gop}:min-keyint=${spec.gop}:scenecut=0` },
        },
      });
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
    progress(`generated in ${fmt((performance.now() - started) / 1000, 1)} s`);
  }
  const size = (await stat(path)).size;
  return {
    path,
    name,
    ...spec,
    size,
    describe: `${name}: testsrc2 ${spec.width}x${spec.height} ${spec.fps} fps, ${spec.seconds} s, H.264 libx264 preset ${spec.preset} (B-frames as the preset has them), keyframe every ${spec.gop} frames (${fmt(spec.gop / spec.fps, 2)} s), ${container}${container === 'mp4' ? ' +faststart' : ''}, ${fmt(size / 1e6, 1)} MB, frame index drawn top-left; page cache warm`,
  };
}

/** The frame index drawn into a picture of a bench medium (any output size whose code is ≥ 64 px wide). */
export async function frameIndexOf(image: Buffer): Promise<number> {
  const meta = await sharp(image).metadata();
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  const width = Math.max(1, Math.round((w * CODE_W) / 1280));
  const height = Math.max(1, Math.round((h * CODE_H) / 720));
  const region = await sharp(image).extract({ left: 0, top: 0, width, height }).png().toBuffer();
  return readFrameIndex(region);
}

/** Frame shown at `ms` of constant-rate media starting at 0. */
export const frameAtMs = (ms: number, fps: number) => Math.floor((ms * fps) / 1000 + 1e-9);

// ------------------------------------------------------------------------------------------- HTTP

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

export function get(url: string, agent: Agent = keepAlive): Promise<HttpResult> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const req = request(url, { agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => res({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), ms: performance.now() - started }));
      response.on('error', rej);
    });
    req.on('error', rej);
    req.end();
  });
}

export async function getOk(url: string): Promise<HttpResult> {
  const r = await get(url);
  if (r.status !== 200) throw new Error(`GET ${url} → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
  return r;
}

export function serverTiming(headers: HttpResult['headers']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of String(headers['server-timing'] ?? '').matchAll(/(\w+);dur=([\d.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Prometheus text → a reader of sums over series of a metric whose labels include `labels`. */
export type Metrics = (name: string, labels?: Record<string, string>) => number;

export function parseMetrics(text: string): Metrics {
  const series: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    series.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return (name, labels = {}) =>
    sum(series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value));
}

export async function readMetrics(base: string): Promise<Metrics> {
  return parseMetrics((await getOk(`${base}/_/metrics`)).body.toString('utf8'));
}

// ----------------------------------------------------------------------------------------- server

export interface Server {
  base: string;
  pid: number;
  child: ChildProcess;
  /** The capture worker processes now (children whose command line contains engine/worker). */
  workers(): number[];
  /** Server and worker pids (for the CPU meter). */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * `node bin/stillframe.js serve` on loopback as a child process (its own event loop), log level warn
 * unless `env` says otherwise. With `logFile`, its stdout (the JSON log lines) goes to that file, as a
 * deployment's log collector would take it, instead of through a pipe into this process.
 */
export async function startServer(env: Record<string, string>, options: { logFile?: string } = {}): Promise<Server> {
  const logFd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'stillframe.js'), 'serve', '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    stdio: ['ignore', logFd ?? 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      STILLFRAME_DEMO: 'false',
      // Like nginx's `access_log off`: no per-request log line.
      STILLFRAME_LOG_LEVEL: 'warn',
      ...env,
    },
  });
  if (logFd !== undefined) closeSync(logFd);
  children.add(child);
  // The start-up banner goes to stderr when stdout is not a terminal; log lines go to stdout.
  let output = '';
  let started = false;
  const base = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start in 60 s:\n${output}`)), 60_000);
    const watch = (c: Buffer) => {
      // Keep draining after start-up so that the pipes never fill.
      if (started) return;
      output += c.toString();
      if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
      const m = /on (http:\/\/\S+)\n/.exec(output);
      if (m) {
        started = true;
        clearTimeout(timer);
        res(m[1]!);
      }
    };
    child.stdout?.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited (${code}) during start-up:\n${output}`));
    });
  });
  const pid = child.pid!;
  const workers = () => childPids(pid, 'engine/worker');
  // The workers start with the server; wait until they are there.
  for (let i = 0; i < 200 && workers().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  return { base, pid, child, workers, pids: () => [pid, ...workers()], stop: () => stopChild(child, 'SIGTERM') };
}

/** Least-squares line y = a + b·x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): { a: number; b: number } {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { a: NaN, b: NaN };
  const mx = sum(xs.slice(0, n)) / n;
  const my = sum(ys.slice(0, n)) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const b = sxx ? sxy / sxx : NaN;
  return { a: my - b * mx, b };
}

/** A port free on loopback now. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

// ------------------------------------------------------------------------------------------ nginx

/** nginx as a static file server: the baseline for cached hits. */
export function findNginx(): string | undefined {
  const candidates = [process.env.STILLFRAME_BENCH_NGINX, '/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'nginx'))];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export async function startNginx(bin: string, dir: string, port: number): Promise<{ base: string; stop(): Promise<void> }> {
  // mkdtemp makes 0700 directories; nginx workers may run as another user (nobody) when we are root.
  await chmod(dir, 0o755);
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes auto;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type image/jpeg;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${join(dir, 'www')};
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    try {
      await get(`${base}/`, new Agent());
      break;
    } catch {
      if (i > 100) throw new Error(`nginx did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { base, stop: () => stopChild(child, 'SIGQUIT') };
}

