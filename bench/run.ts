// `npm run bench`: the URL API benchmark (issue 2). One run, on a generated 720p H.264 60 s file:
//   1. cold exact snapshot latency through HTTP vs the bare ffmpeg CLI (probe cache warm / never-seen object)
//   2. m_fast vs exact cold latency
//   3. cached-hit requests/s vs nginx serving the same JPEG as a static file (autocannon for both), the
//      ~10 KB hit in several alternating rounds with the server's access log and metrics on, and a bare
//      node:http server sending the same bytes as the ceiling of one Node process
//   4. 50 concurrent identical cold requests → ffmpeg runs (single-flight)
// The server runs as a child process (`node bin/stillframe.js serve`) so that it does not share an
// event loop with autocannon; ffmpeg/ffprobe are the binaries the server itself resolves. Tables go to
// stdout and bench/results.md; progress goes to stderr.
//   npm run bench -- --rounds 5     rounds of the ~10 KB hit comparison (default 5)
//   npm run bench -- --hits         only section 3, printed, bench/results.md left alone (for profiling)
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { resolveBinaries, type Binaries } from '../src/media/binaries.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const MEDIA_DIR = join(BENCH_DIR, '.media');
const MEDIA_FILE = join(MEDIA_DIR, 'testsrc2-1280x720-30fps-60s-g250.mp4');

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
};
const HITS_ONLY = argv.includes('--hits');
const ROUNDS = Number(option('--rounds') ?? 5);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${option('--rounds')}`);

// Sizes of the run, chosen to stay within ~5 minutes on 2 cores (media generation excepted).
const COLD_SAMPLES = 16; // distinct t values, each requested once per row
// 32 connections: the load the issue measured the cached hit with (2.9k req/s vs nginx 10.7k).
const LOAD = { connections: 32, pipelining: 1, duration: 10, warmup: 2 };
const BURST = 50;
// The ~10 KB thumbnail is the hit a CDN origin serves most: measured in ROUNDS alternating rounds.
const HIT_PROCESS = 'video/snapshot,t_7000,f_jpg,w_400';
const CACHED_PROCESSES = [HIT_PROCESS, 'video/snapshot,t_7000,f_jpg,w_800', 'video/snapshot,t_7000,f_jpg,w_64'];
// Same binary environment as the server's runner (src/media/run.ts): nothing of ours leaks in.
const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', GCONV_PATH: '/nonexistent' };

const children = new Set<ChildProcess>();
const progress = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// ---------------------------------------------------------------------------------------------- utils

function quantile(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
const median = (v: readonly number[]) => quantile(v, 0.5);
const p90 = (v: readonly number[]) => quantile(v, 0.9);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const ratioText = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');
const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? ' ✅' : ' ❌');

function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Asks a child to stop with `signal` (SIGTERM drains stillframe, SIGQUIT stops nginx gracefully); SIGKILL after 5 s. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise<void>((res) => {
    if (child.exitCode !== null) return res();
    child.once('exit', () => {
      children.delete(child);
      res();
    });
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

async function freePort(): Promise<number> {
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

/** Runs a process to completion; resolves with wall time (ms) from spawn to exit. */
function runTimed(bin: string, args: string[]): Promise<{ ms: number; stderr: string }> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: CHILD_ENV });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) res({ ms, stderr });
      else rej(new Error(`${bin} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: BURST });

function get(url: string, agent: Agent = keepAlive): Promise<HttpResult> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const req = request(url, { agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () =>
        res({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), ms: performance.now() - started }),
      );
      response.on('error', rej);
    });
    req.on('error', rej);
    req.end();
  });
}

async function getOk(url: string): Promise<HttpResult> {
  const r = await get(url);
  if (r.status !== 200) throw new Error(`GET ${url} → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------- media

async function ensureMedia(bins: Binaries): Promise<void> {
  if (existsSync(MEDIA_FILE)) {
    try {
      const out = execFileSync(bins.ffprobe.path, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', MEDIA_FILE], { encoding: 'utf8' });
      if (Math.abs(Number(out.trim()) - 60) < 0.5) return;
    } catch {
      // Unreadable: regenerate below.
    }
  }
  await mkdir(MEDIA_DIR, { recursive: true });
  progress(`generating ${MEDIA_FILE} with ${bins.ffmpeg.path} (once; ~1 min on 2 cores, cached afterwards)`);
  const partial = `${MEDIA_FILE}.partial.mp4`;
  await runTimed(bins.ffmpeg.path, [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', '60',
    '-c:v', 'libx264', '-g', '250', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', partial,
  ]);
  await rename(partial, MEDIA_FILE);
}

function keyframeTimes(bins: Binaries, file: string): number[] {
  const out = execFileSync(bins.ffprobe.path, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out
    .split('\n')
    .map((l) => l.split(','))
    .filter(([, flags]) => flags?.startsWith('K'))
    .map(([pts]) => Number(pts))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

/** Distinct capture times spread over the file, none within 200 ms of a keyframe (so decoding runs mid-GOP). */
function pickTimes(count: number, duration: number, keyframes: readonly number[]): number[] {
  const times: number[] = [];
  const step = (duration - 3) / count;
  for (let i = 0; i < count; i++) {
    let t = 1 + step * (i + 0.37);
    while (keyframes.some((k) => Math.abs(k - t) < 0.2)) t += 0.25;
    times.push(Math.round(t * 1000));
  }
  return times;
}

// --------------------------------------------------------------------------------------------- server

interface Server {
  base: string;
  stop(): Promise<void>;
}

/**
 * The server with its access log on (level info: one JSON line per request, like a production origin)
 * and metrics on. stdout goes to a file, as a log shipper would take it, so reading the log costs the
 * load generator nothing; the file's line count is checked against the requests made.
 */
async function startServer(storageRoot: string, logFile: string): Promise<Server & { logLines(): Promise<number> }> {
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'stillframe.js'), 'serve', '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    stdio: ['ignore', logFd, 'pipe'],
    env: {
      ...process.env, // keeps STILLFRAME_FFMPEG / STILLFRAME_FFPROBE
      STILLFRAME_STORAGE: `file://${storageRoot}`,
      STILLFRAME_DEMO: 'false',
      STILLFRAME_CACHE_BYTES: '512MB',
      STILLFRAME_LOG_LEVEL: 'info',
    },
  });
  closeSync(logFd);
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });
  // The address: the `listening` log line (or the banner, which goes to stderr when stdout is no TTY).
  const base = await new Promise<string>((res, rej) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const out = readFileSync(logFile, 'utf8');
      const port = /"msg":"listening".*"port":(\d+)/.exec(out)?.[1];
      const banner = /on (http:\/\/\S+)\n/.exec(`${out}\n${stderr}`)?.[1];
      if (port || banner) {
        clearInterval(poll);
        res(port ? `http://127.0.0.1:${port}` : banner!);
      } else if (child.exitCode !== null || Date.now() - started > 30_000) {
        clearInterval(poll);
        rej(new Error(`server did not start (exit ${child.exitCode}):\n${out}\n${stderr}`));
      }
    }, 50);
  });
  const logLines = async () => (await readFile(logFile, 'utf8')).split('\n').filter((l) => l.includes('"msg":"request"')).length;
  return { base, stop: () => stopChild(child, 'SIGTERM'), logLines };
}

/** A bare node:http server answering every request with `body`: the ceiling of one Node process. */
async function startBareNode(file: string, port: number): Promise<{ base: string; stop(): Promise<void> }> {
  const code = `const body = require('fs').readFileSync(${JSON.stringify(file)});
require('http').createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
  res.end(body);
}).listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  await new Promise<void>((res, rej) => {
    child.stdout.once('data', () => res());
    child.once('exit', (c) => rej(new Error(`bare node server exited ${c}`)));
  });
  return { base: `http://127.0.0.1:${port}`, stop: () => stopChild(child, 'SIGTERM') };
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return `${commit}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

interface MetricsSnapshot {
  spawns: { ffmpeg: number; ffprobe: number };
  runMs: { ffmpeg: number; ffprobe: number };
}

async function readMetrics(base: string): Promise<MetricsSnapshot> {
  const text = (await getOk(`${base}/_/metrics`)).body.toString('utf8');
  const value = (re: RegExp) => {
    let sum = 0;
    for (const m of text.matchAll(re)) sum += Number(m[1]);
    return sum;
  };
  return {
    spawns: {
      ffmpeg: value(/^stillframe_ffmpeg_spawns_total\{tool="ffmpeg"\} (\S+)$/gm),
      ffprobe: value(/^stillframe_ffmpeg_spawns_total\{tool="ffprobe"\} (\S+)$/gm),
    },
    runMs: {
      ffmpeg: value(/^stillframe_ffmpeg_run_seconds_sum\{tool="ffmpeg"[^}]*\} (\S+)$/gm) * 1000,
      ffprobe: value(/^stillframe_ffmpeg_run_seconds_sum\{tool="ffprobe"[^}]*\} (\S+)$/gm) * 1000,
    },
  };
}

function serverTiming(headers: HttpResult['headers']): Record<string, number> {
  const raw = String(headers['server-timing'] ?? '');
  const out: Record<string, number> = {};
  for (const m of raw.matchAll(/(\w+);dur=([\d.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

// ---------------------------------------------------------------------------------------------- nginx

function findNginx(): string | undefined {
  const candidates = [process.env.STILLFRAME_BENCH_NGINX, '/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'nginx'))];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

async function startNginx(bin: string, dir: string, port: number): Promise<{ base: string; stop(): Promise<void> }> {
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

interface LoadResult {
  rps: number;
  /** Requests answered, warm-up included. */
  total: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  cpu: number;
}

async function load(url: string): Promise<LoadResult> {
  const warm = await autocannon({ url, connections: LOAD.connections, pipelining: LOAD.pipelining, duration: LOAD.warmup });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon({ url, connections: LOAD.connections, pipelining: LOAD.pipelining, duration: LOAD.duration });
  const used = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  return {
    rps: r.requests.average,
    total: warm.requests.total + r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    // Load generator CPU as a share of one core: near 100% means autocannon, not the server, is the limit.
    cpu: ((used.user + used.system) / 1000 / wall) * 100,
  };
}

// ----------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const wallStart = performance.now();
  const loadAtStart = loadavg()[0]!;
  const bins = resolveBinaries({ ffmpeg: process.env.STILLFRAME_FFMPEG || undefined, ffprobe: process.env.STILLFRAME_FFPROBE || undefined });
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? 'unknown CPU';
  const nginxBin = findNginx();
  let nginxVersion = 'not installed';
  if (nginxBin) {
    // `nginx -v` prints its version on stderr.
    const out = spawnSync(nginxBin, ['-v'], { encoding: 'utf8' });
    nginxVersion = `${nginxBin} (${`${out.stderr ?? ''}${out.stdout ?? ''}`.replace(/^nginx version:\s*/, '').trim()})`;
  }

  await ensureMedia(bins);
  const mediaSize = (await stat(MEDIA_FILE)).size;
  const keyframes = keyframeTimes(bins, MEDIA_FILE);
  const gop = keyframes.length > 1 ? keyframes[1]! - keyframes[0]! : NaN;
  const times = pickTimes(COLD_SAMPLES, 60, keyframes);
  const gopOffsets = times.map((t) => t / 1000 - Math.max(...keyframes.filter((k) => k <= t / 1000 + 1e-6)));

  const work = await mkdtemp(join(tmpdir(), 'stillframe-bench-'));
  const storage = join(work, 'store');
  const bucketDir = join(storage, 'bench');
  await mkdir(bucketDir, { recursive: true });
  // Fresh keys for never-seen objects: hard links (same bytes, new key ⇒ probe-cache miss), else copies.
  const place = async (key: string) => {
    const target = join(bucketDir, key);
    await link(MEDIA_FILE, target).catch(() => copyFile(MEDIA_FILE, target));
  };
  await place('warm.mp4');
  for (let i = 0; i < COLD_SAMPLES; i++) await place(`fresh-${i}.mp4`);
  await place('burst-new.mp4');
  const cliOut = join(work, 'cli.jpg');

  const cleanup = async () => {
    for (const c of children) c.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  };

  try {
    progress(`starting server (node bin/stillframe.js serve) on storage ${storage}`);
    const server = await startServer(storage, join(work, 'server.log'));
    const { base } = server;
    const url = (key: string, proc: string) => `${base}/bench/${key}?x-oss-process=${proc}`;

    // Warm-up: JIT, sharp, page cache, and the probe of warm.mp4 (t=0 is not one of the measured t values).
    progress('warm-up');
    await getOk(url('warm.mp4', 'video/snapshot,t_0,f_jpg'));
    await runTimed(bins.ffmpeg.path, ['-v', 'error', '-y', '-ss', '0.5', '-i', MEDIA_FILE, '-frames:v', '1', cliOut]);

    // --- 1 & 2: cold latency. Interleaved per t so drift affects every column alike.
    interface Cold {
      ms: number[];
      st: Record<string, number[]>;
      ffprobeMs: number[];
      ffmpegMs: number[];
      ffprobeRuns: number[];
      ffmpegRuns: number[];
    }
    const newCold = (): Cold => ({ ms: [], st: {}, ffprobeMs: [], ffmpegMs: [], ffprobeRuns: [], ffmpegRuns: [] });
    const cold = { warm: newCold(), fresh: newCold(), fast: newCold() };
    const cli: number[] = [];
    const coldRequest = async (into: Cold, u: string) => {
      const m0 = await readMetrics(base);
      const r = await getOk(u);
      const m1 = await readMetrics(base);
      if (r.headers['x-cache'] !== 'MISS') throw new Error(`expected a result-cache miss for ${u}, got X-Cache ${String(r.headers['x-cache'])}`);
      into.ms.push(r.ms);
      for (const [k, v] of Object.entries(serverTiming(r.headers))) (into.st[k] ??= []).push(v);
      into.ffprobeMs.push(m1.runMs.ffprobe - m0.runMs.ffprobe);
      into.ffmpegMs.push(m1.runMs.ffmpeg - m0.runMs.ffmpeg);
      into.ffprobeRuns.push(m1.spawns.ffprobe - m0.spawns.ffprobe);
      into.ffmpegRuns.push(m1.spawns.ffmpeg - m0.spawns.ffmpeg);
    };
    for (const [i, t] of (HITS_ONLY ? [] : times).entries()) {
      progress(`cold ${i + 1}/${times.length}: t=${t} ms (${fmt(gopOffsets[i]!, 2)} s into its GOP)`);
      cli.push((await runTimed(bins.ffmpeg.path, ['-v', 'error', '-y', '-ss', (t / 1000).toFixed(3), '-i', MEDIA_FILE, '-frames:v', '1', cliOut])).ms);
      await coldRequest(cold.warm, url('warm.mp4', `video/snapshot,t_${t},f_jpg`));
      await coldRequest(cold.fresh, url(`fresh-${i}.mp4`, `video/snapshot,t_${t},f_jpg`));
      await coldRequest(cold.fast, url('warm.mp4', `video/snapshot,t_${t},f_jpg,m_fast`));
    }

    // --- 3: cached hits vs nginx serving the same bytes. The ~10 KB thumbnail in ROUNDS alternating
    // rounds (stillframe, nginx, bare node:http, the order rotating each round so drift spreads over all
    // three), then the README's w_800 URL and a 1 KB thumbnail once each. autocannon decodes every
    // response body into a JS string (lib/pipelinedRequestsQueue.js addBody), which caps it at roughly
    // 70 MB/s per core: with 28 KB bodies both targets hit that cap, so the smaller bodies are the ones
    // that measure the servers rather than the load generator.
    interface Cached {
      process: string;
      body: Buffer;
      sf: LoadResult[];
      spawns: number;
      ngx: LoadResult[];
      bare: LoadResult[];
    }
    const cachedCases: Cached[] = [];
    for (const proc of HITS_ONLY ? [HIT_PROCESS] : CACHED_PROCESSES) {
      const u = url('warm.mp4', proc);
      const first = await getOk(u);
      const again = await getOk(u);
      if (again.headers['x-cache'] !== 'HIT' || !again.body.equals(first.body)) throw new Error(`${proc} did not come back as an identical cache hit`);
      cachedCases.push({ process: proc, body: first.body, sf: [], spawns: 0, ngx: [], bare: [] });
    }
    let nginxNote = '';
    const ngDir = await mkdtemp(join(work, 'nginx-'));
    await mkdir(join(ngDir, 'www'), { recursive: true });
    await chmod(work, 0o755);
    for (const [i, c] of cachedCases.entries()) await writeFile(join(ngDir, 'www', `frame-${i}.jpg`), c.body, { mode: 0o644 });
    await chmod(join(ngDir, 'www'), 0o755);
    if (!nginxBin) {
      nginxNote = 'nginx NOT FOUND (looked at $STILLFRAME_BENCH_NGINX, /usr/sbin/nginx, PATH): baseline skipped — apt-get install nginx-light';
      progress(nginxNote);
    }
    const nginx = nginxBin ? await startNginx(nginxBin, ngDir, await freePort()) : undefined;
    const bare = await startBareNode(join(ngDir, 'www', 'frame-0.jpg'), await freePort());
    let logged = 0;
    let answered = 0;
    try {
      for (const [i, c] of cachedCases.entries()) {
        if (nginx && !(await getOk(`${nginx.base}/frame-${i}.jpg`)).body.equals(c.body)) throw new Error('nginx does not serve the same bytes');
      }
      if (!(await getOk(bare.base)).body.equals(cachedCases[0]!.body)) throw new Error('the bare node server does not serve the same bytes');
      const targets = {
        stillframe: async (c: Cached) => {
          const before = await readMetrics(base);
          const linesBefore = await server.logLines();
          const r = await load(url('warm.mp4', c.process));
          const after = await readMetrics(base);
          await new Promise((res) => setTimeout(res, 500)); // the last asynchronous log writes
          logged += (await server.logLines()) - linesBefore;
          answered += r.total;
          c.spawns += after.spawns.ffmpeg - before.spawns.ffmpeg + after.spawns.ffprobe - before.spawns.ffprobe;
          c.sf.push(r);
        },
        nginx: async (c: Cached, i: number) => void (nginx && c.ngx.push(await load(`${nginx.base}/frame-${i}.jpg`))),
        'node:http': async (c: Cached) => void c.bare.push(await load(bare.base)),
      };
      const order = Object.keys(targets) as (keyof typeof targets)[];
      for (const [i, c] of cachedCases.entries()) {
        const rounds = i === 0 ? ROUNDS : 1;
        for (let round = 0; round < rounds; round++) {
          for (let k = 0; k < order.length; k++) {
            const target = order[(k + round) % order.length]!;
            if (target === 'node:http' && i !== 0) continue;
            if (target === 'nginx' && !nginx) continue;
            progress(`${c.process} (${c.body.length} B), round ${round + 1}/${rounds}: ${target}, autocannon ${LOAD.connections} connections × ${LOAD.duration} s (+${LOAD.warmup} s warm-up)`);
            await targets[target](c, i);
          }
        }
      }
    } finally {
      await nginx?.stop();
      await bare.stop();
    }

    // --- 4: single-flight. 50 identical cold requests at once; count the processes they started.
    const burst = async (u: string) => {
      const agent = new Agent({ keepAlive: false, maxSockets: BURST });
      const m0 = await readMetrics(base);
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: BURST }, () => get(u, agent)));
      const ms = performance.now() - t0;
      const m1 = await readMetrics(base);
      agent.destroy();
      const ok = results.filter((r) => r.status === 200 && r.body.equals(results[0]!.body)).length;
      return { ms, ok, ffmpeg: m1.spawns.ffmpeg - m0.spawns.ffmpeg, ffprobe: m1.spawns.ffprobe - m0.spawns.ffprobe };
    };
    const burstT = times[Math.floor(times.length / 2)]! + 1234; // never requested before
    const noBurst = { ms: NaN, ok: 0, ffmpeg: NaN, ffprobe: NaN };
    if (!HITS_ONLY) progress(`single-flight: ${BURST} concurrent identical requests, t=${burstT} ms, probed object`);
    const burstWarm = HITS_ONLY ? noBurst : await burst(url('warm.mp4', `video/snapshot,t_${burstT},f_jpg,w_800`));
    if (!HITS_ONLY) progress(`single-flight: ${BURST} concurrent identical requests, t=${burstT} ms, never-seen object`);
    const burstNew = HITS_ONLY ? noBurst : await burst(url('burst-new.mp4', `video/snapshot,t_${burstT},f_jpg,w_800`));

    await server.stop();

    // ------------------------------------------------------------------------------------------ report
    const header = [
      `# stillframe benchmark (npm run bench)`,
      '',
      `- Machine: ${cpuModel}, ${availableParallelism()} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; 1-min load average at start ${loadAtStart.toFixed(2)}${loadAtStart > availableParallelism() / 4 ? ' (other work was running: expect noise)' : ''}`,
      `- Build: git ${gitDescription()}, run from source through tsx (\`node bin/stillframe.js\`)`,
      `- ffmpeg: ${bins.ffmpeg.path} (${bins.ffmpeg.source}) — ${bins.ffmpeg.versionLine}; ffprobe: ${bins.ffprobe.path}`,
      `- nginx: ${nginxVersion}`,
      `- Media: testsrc2 1280x720 30 fps, 60 s, H.264 (libx264 default preset, -g 250 ⇒ keyframe every ${fmt(gop, 2)} s), yuv420p, +faststart, ${fmt(mediaSize / 1e6, 1)} MB, page cache warm`,
      `- Server: \`node bin/stillframe.js serve\` as a child process, log level info (one JSON access-log line per request, stdout to a file) and metrics on; STILLFRAME_MAX_FFMPEG default (${availableParallelism()}). nginx: \`access_log off\`, sendfile on, worker_processes auto`,
      `- Cold t values (ms, ${times.length}, sequential, none within 200 ms of a keyframe; median ${fmt(median(gopOffsets), 2)} s into the GOP): ${times.join(', ')}`,
    ].join('\n');

    const row = (what: string, s: number[], b: number[], target: string, pass?: boolean) => [
      what,
      `${fmt(median(s))} / ${fmt(p90(s))}`,
      `${fmt(median(b))} / ${fmt(p90(b))}`,
      ratioText(ratio(median(s), median(b))),
      `${target}${mark(pass)}`,
    ];
    const coldRatioWarm = ratio(median(cold.warm.ms), median(cli));
    const coldRatioFresh = ratio(median(cold.fresh.ms), median(cli));
    const section1 = table(
      ['what (cold = result-cache miss, full-size 1280x720 JPEG)', 'stillframe ms (median / p90)', 'baseline: `ffmpeg -ss T -i FILE -frames:v 1 out.jpg` ms (median / p90)', 'ratio of medians', 'target'],
      [
        row('(a) exact, probe cache warm (new t on a probed object)', cold.warm.ms, cli, 'ratio ≤ 1.10', coldRatioWarm <= 1.1),
        row('(b) exact, first request on a never-seen object (probe runs too)', cold.fresh.ms, cli, 'ratio ≤ 1.10', coldRatioFresh <= 1.1),
      ],
    );

    const br = (c: Cold) => {
      const st = (k: string) => median(c.st[k] ?? []);
      const locate = (c.st.decode ?? []).map((d, i) => d - (c.ffmpegMs[i] ?? 0));
      const http = c.ms.map((m, i) => m - (c.st.total?.[i] ?? 0));
      return [
        fmt(median(c.ms)),
        fmt(st('probe'), 1),
        fmt(median(locate), 1),
        fmt(median(c.ffmpegMs), 1),
        fmt(st('encode'), 1),
        fmt(median(http), 1),
        `${fmt(median(c.ffprobeRuns))} + ${fmt(median(c.ffmpegRuns))}${median(c.ffprobeRuns) > 0 ? ` (ffprobe ${fmt(median(c.ffprobeMs), 1)} ms)` : ''}`,
      ];
    };
    const breakdown = table(
      ['cold request, medians in ms', 'client total', 'probe (Server-Timing)', 'locate = Server-Timing decode − ffmpeg run (packet-scan ffprobe, if any)', 'ffmpeg decode run (metrics)', 'sharp encode (Server-Timing)', 'HTTP + queueing (client − server total)', 'processes: ffprobe + ffmpeg'],
      [
        ['(a) exact, probe cache warm', ...br(cold.warm)],
        ['(b) exact, never-seen object', ...br(cold.fresh)],
        ['m_fast, probe cache warm', ...br(cold.fast)],
        ['bare CLI (`ffmpeg -ss T -i … out.jpg`)', fmt(median(cli)), '—', '—', fmt(median(cli), 1), '(in ffmpeg)', '—', '0 + 1'],
      ],
    );

    const section2 = table(
      ['what', 'stillframe m_fast ms (median / p90)', 'baseline: stillframe exact ms (median / p90)', 'ratio of medians', 'target'],
      [row('cold, probe cache warm, same t values', cold.fast.ms, cold.warm.ms, 'ratio < 1 (keyframe only, no GOP decode)', ratio(median(cold.fast.ms), median(cold.warm.ms)) < 1)],
    );

    const cachedRows: string[][] = [];
    const rpsOf = (results: LoadResult[]) => results.map((r) => r.rps);
    const range = (results: LoadResult[]) => (results.length > 1 ? ` (${fmt(Math.min(...rpsOf(results)))}–${fmt(Math.max(...rpsOf(results)))})` : '');
    const med = (results: LoadResult[], f: (r: LoadResult) => number) => median(results.map(f));
    for (const c of cachedCases) {
      const { sf, ngx, bare: node } = c;
      const r = ngx.length ? ratio(median(rpsOf(sf)), median(rpsOf(ngx))) : NaN;
      // Paired ratios: each stillframe round against the nginx round next to it.
      const paired = ngx.length === sf.length && sf.length > 1 ? `; median of ${sf.length} paired rounds ${ratioText(median(sf.map((x, i) => x.rps / ngx[i]!.rps)))}` : '';
      const rounds = sf.length > 1 ? `, median of ${sf.length} rounds (min–max)` : '';
      cachedRows.push(
        [
          `cached hit \`${c.process}\` (${c.body.length} B): requests/s${rounds}`,
          `${fmt(median(rpsOf(sf)))}${range(sf)}`,
          ngx.length ? `${fmt(median(rpsOf(ngx)))}${range(ngx)}` : 'nginx missing',
          `${ratioText(r)}${paired}`,
          `≥ 0.70×${mark(ngx.length ? r >= 0.7 : undefined)}`,
        ],
        ['↳ latency p50 / p99 ms (medians)', `${fmt(med(sf, (x) => x.p50))} / ${fmt(med(sf, (x) => x.p99))}`, ngx.length ? `${fmt(med(ngx, (x) => x.p50))} / ${fmt(med(ngx, (x) => x.p99))}` : '—', '', ''],
        [
          '↳ non-2xx / errors; ffmpeg+ffprobe runs during the load',
          `${sf.reduce((n, x) => n + x.non2xx, 0)} / ${sf.reduce((n, x) => n + x.errors, 0)}; ${c.spawns} runs`,
          ngx.length ? `${ngx.reduce((n, x) => n + x.non2xx, 0)} / ${ngx.reduce((n, x) => n + x.errors, 0)}` : '—',
          '',
          'all 0',
        ],
        ['↳ autocannon CPU, % of one core (≈100 ⇒ the load generator is the limit)', fmt(med(sf, (x) => x.cpu)), ngx.length ? fmt(med(ngx, (x) => x.cpu)) : '—', '', ''],
      );
      if (node.length) {
        cachedRows.push([
          `↳ reference: bare \`node:http\` server sending the same ${c.body.length} B buffer (no routing, no log, no metrics)`,
          `${fmt(median(rpsOf(node)))}${range(node)}`,
          ngx.length ? ratioText(ratio(median(rpsOf(node)), median(rpsOf(ngx)))) + ' of nginx' : '',
          `stillframe = ${ratioText(ratio(median(rpsOf(sf)), median(rpsOf(node))))} of it`,
          '',
        ]);
      }
    }
    const section3 = table(['what', 'stillframe', 'baseline: nginx static file (same bytes)', 'ratio', 'target'], cachedRows);
    const loadNote =
      `autocannon ${LOAD.connections} connections, pipelining ${LOAD.pipelining}, ${LOAD.duration} s after a ${LOAD.warmup} s warm-up, run from the bench process for every target ` +
      `(server, nginx ${nginxBin ? '(worker_processes auto) ' : ''}and the load generator share the ${availableParallelism()} cores). The first row ran ${ROUNDS} rounds, the targets taking turns ` +
      `in a rotating order; the others once. Logging was on: the server wrote ${logged} access-log lines for ${answered} requests answered during the stillframe loads. ` +
      `autocannon turns every response body into a JS string, which caps it near 70 MB/s per core: with the 28 KB frame both sides hit that cap and the ratio is flattered; the small thumbnails measure the servers.` +
      (nginxNote ? ` ${nginxNote}` : '');

    const section4 = table(
      ['what', 'stillframe ffmpeg runs', 'baseline (one ffmpeg per request)', 'ratio', 'target'],
      [
        [
          `${BURST} concurrent identical cold requests, probed object (ffprobe runs: ${burstWarm.ffprobe}; ${burstWarm.ok}/${BURST} identical 200s; ${fmt(burstWarm.ms)} ms)`,
          String(burstWarm.ffmpeg),
          String(BURST),
          ratioText(ratio(burstWarm.ffmpeg, BURST)),
          `exactly 1 run${mark(burstWarm.ffmpeg === 1 && burstWarm.ok === BURST)}`,
        ],
        [
          `${BURST} concurrent identical cold requests, never-seen object (ffprobe runs: ${burstNew.ffprobe}; ${burstNew.ok}/${BURST} identical 200s; ${fmt(burstNew.ms)} ms)`,
          String(burstNew.ffmpeg),
          String(BURST),
          ratioText(ratio(burstNew.ffmpeg, BURST)),
          `exactly 1 run${mark(burstNew.ffmpeg === 1 && burstNew.ok === BURST)}`,
        ],
      ],
    );

    const hitsReport = [header, '', '## 3. Cached hits vs nginx static file', '', section3, '', loadNote, ''].join('\n');
    if (HITS_ONLY) {
      process.stdout.write(`\n${hitsReport}`);
      return;
    }
    const report = [
      header,
      '',
      '## 1. Cold exact snapshot latency: HTTP vs bare ffmpeg CLI',
      '',
      section1,
      '',
      `Each t ran CLI → (a) → (b) → m_fast back to back, so drift hits all columns alike; median of the per-t paired ratios: (a) ${ratioText(median(cold.warm.ms.map((m, i) => m / cli[i]!)))}, (b) ${ratioText(median(cold.fresh.ms.map((m, i) => m / cli[i]!)))}.`,
      '',
      'Where the time goes (Server-Timing header and /_/metrics deltas per request):',
      '',
      breakdown,
      '',
      '## 2. `m_fast` vs exact, cold',
      '',
      section2,
      '',
      '## 3. Cached hits vs nginx static file',
      '',
      section3,
      '',
      loadNote,
      '',
      '## 4. Single-flight: concurrent identical cold requests',
      '',
      section4,
      '',
      `Total bench time ${fmt((performance.now() - wallStart) / 1000)} s.`,
      '',
    ].join('\n');
    process.stdout.write(`\n${report}`);
    await writeFile(join(BENCH_DIR, 'results.md'), report);
    progress(`wrote ${join(BENCH_DIR, 'results.md')}`);
  } finally {
    await cleanup();
  }
}

process.on('SIGINT', () => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(130);
});

main().then(
  () => keepAlive.destroy(),
  (err: unknown) => {
    for (const c of children) c.kill('SIGKILL');
    process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
