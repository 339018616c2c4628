// `npm run bench:hits`: the request a CDN origin serves most — a cached snapshot hit of ~10 KB — with
// the server as deployed: access log on (info level, JSON lines to a file as a log collector takes them)
// and metrics on. In ROUNDS alternating rounds (the order rotates each round, so drift spreads over all
// three), autocannon with 32 connections against:
//   stillframe  GET /media/warm.mp4?x-oss-process=video/snapshot,t_7000,f_jpg,w_400 (a result-cache hit)
//   nginx       the same bytes as a static file (worker_processes auto, access_log off, sendfile)
//   node:http   a bare Node server answering every request with the same buffer: one Node process's ceiling
// Target (issue #11): stillframe ≥ 0.70× nginx, judged on the median of the per-round ratios.
// Progress on stderr; the table on stdout and in bench/hits-results.md.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  runBench,
  BENCH_DIR,
  benchMedia,
  children,
  cpuMeter,
  cpuText,
  findNginx,
  freePort,
  fmt,
  getOk,
  killChildren,
  machineLine,
  mark,
  median,
  progressFor,
  ratio,
  ratioText,
  readMetrics,
  startNginx,
  startServer,
  stopChild,
  table,
} from './lib.js';

const progress = progressFor('hits');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LOAD = { connections: 32, duration: Number(process.env.BENCH_LOAD_SECONDS ?? 10), warmup: 2 };
const PROCESS = 'video/snapshot,t_7000,f_jpg,w_400';
const TARGET = 0.7;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
  requests: number;
}

async function load(url: string): Promise<Load> {
  await autocannon({ url, connections: LOAD.connections, duration: LOAD.warmup });
  const r = await autocannon({ url, connections: LOAD.connections, duration: LOAD.duration });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors, requests: r.requests.total };
}

/** A bare node:http server answering every request with the bytes of `file`. */
async function startBareNode(file: string): Promise<{ base: string; stop(): Promise<void> }> {
  const script = `const b=require('fs').readFileSync(${JSON.stringify(file)});const s=require('http').createServer((q,r)=>{r.writeHead(200,{'content-type':'image/jpeg','content-length':b.length});r.end(b)});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`bare node server exited ${code}`)));
  });
  return { base: `http://127.0.0.1:${port}`, stop: () => stopChild(child, 'SIGTERM') };
}

async function main(): Promise<void> {
  const nginxBin = findNginx();
  if (!nginxBin) throw new Error('nginx not found (apt-get install nginx): it is the baseline of this benchmark');
  const media = await benchMedia(progress, { width: 1280, height: 720, fps: 30, seconds: 60, gop: 250, preset: 'medium' });
  const work = await mkdtemp(join(tmpdir(), 'stillframe-hits-'));
  try {
    await mkdir(join(work, 'data', 'media'), { recursive: true });
    await writeFile(join(work, 'data', 'media', 'warm.mp4'), await readFile(media.path));
    const logFile = join(work, 'access.log');
    const server = await startServer({ STILLFRAME_STORAGE: `file://${join(work, 'data')}`, STILLFRAME_LOG_LEVEL: 'info' }, { logFile });
    const url = `${server.base}/media/warm.mp4?x-oss-process=${PROCESS}`;
    const first = await getOk(url);
    const again = await getOk(url);
    if (again.headers['x-cache'] !== 'HIT' || !again.body.equals(first.body)) throw new Error('the snapshot did not come back as an identical cache hit');
    const body = first.body;
    const www = join(work, 'www');
    await mkdir(www, { recursive: true });
    await chmod(work, 0o755);
    await writeFile(join(www, 'frame.jpg'), body, { mode: 0o644 });
    await chmod(www, 0o755);
    const nginx = await startNginx(nginxBin, work, await freePort());
    const bare = await startBareNode(join(www, 'frame.jpg'));
    for (const base of [`${nginx.base}/frame.jpg`, bare.base]) if (!(await getOk(base)).body.equals(body)) throw new Error(`${base} does not serve the same bytes`);

    const targets = {
      stillframe: () => load(url),
      nginx: () => load(`${nginx.base}/frame.jpg`),
      'node:http': () => load(bare.base),
    } as const;
    type Target = keyof typeof targets;
    const results: Record<Target, Load[]> = { stillframe: [], nginx: [], 'node:http': [] };
    const names = Object.keys(targets) as Target[];
    const before = await readMetrics(server.base);
    const logBefore = (await readFile(logFile, 'utf8')).split('\n').length;
    const meter = cpuMeter(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        progress(`round ${round + 1}/${ROUNDS}: ${name}, autocannon ${LOAD.connections} connections × ${LOAD.duration} s (+${LOAD.warmup} s warm-up)`);
        results[name].push(await targets[name]());
      }
    }
    const cpu = meter.stop();
    const after = await readMetrics(server.base);
    // The access log is written in batches: give the last one time to land.
    await new Promise((r) => setTimeout(r, 200));
    const logLines = (await readFile(logFile, 'utf8')).split('\n').length - logBefore;
    const served = results.stillframe.reduce((n, r) => n + r.requests, 0);
    const jobs = after('stillframe_worker_jobs_total') - before('stillframe_worker_jobs_total');
    await nginx.stop();
    await bare.stop();
    await server.stop();

    const paired = results.stillframe.map((r, i) => ratio(r.rps, results.nginx[i]!.rps));
    const pairedBare = results['node:http'].map((r, i) => ratio(r.rps, results.nginx[i]!.rps));
    const verdict = median(paired);
    const row = (name: Target, extra: string) => {
      const runs = results[name];
      return [name, runs.map((r) => fmt(r.rps)).join(' / '), fmt(median(runs.map((r) => r.rps))), `${fmt(median(runs.map((r) => r.p50)))} / ${fmt(median(runs.map((r) => r.p99)))}`, String(runs.reduce((n, r) => n + r.bad, 0)), extra];
    };
    const out = [
      '# Cached hits (npm run bench:hits)',
      '',
      `- ${machineLine()}`,
      `- Hit: \`${PROCESS}\` (${body.length} B JPEG) on ${media.describe}`,
      `- stillframe: \`node bin/stillframe.js serve\`, access log at info level (JSON lines to a file), metrics on, default settings; nginx: ${nginxBin}, worker_processes auto, access_log off, sendfile; node:http: a bare server sending the same buffer`,
      `- autocannon, ${LOAD.connections} connections, ${LOAD.duration} s per run after a ${LOAD.warmup} s warm-up, ${ROUNDS} rounds in rotating order; CPU during the runs: ${cpuText(cpu)}`,
      '',
      table(
        ['server', 'requests/s per round', 'median requests/s', 'latency p50 / p99 ms', 'non-2xx + errors', 'vs nginx (median of per-round ratios)'],
        [
          row('stillframe', `${ratioText(verdict)} — target ≥ ${TARGET.toFixed(2)}×${mark(verdict >= TARGET)}`),
          row('nginx', '1.00× (baseline)'),
          row('node:http', `${ratioText(median(pairedBare))} (the ceiling of one Node process)`),
        ],
      ),
      '',
      `During stillframe's runs: ${served} responses, ${logLines} access-log lines written, ${jobs} capture-worker jobs (a hit decodes nothing).`,
      '',
    ].join('\n');
    process.stdout.write(`${out}\n`);
    await writeFile(join(BENCH_DIR, 'hits-results.md'), out);
  } finally {
    killChildren();
    await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
