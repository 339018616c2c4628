// `npm run bench:images`: OSS image processing (`x-oss-process=image/…`, docs/images.md) against the
// same work done by a bare sharp process, in one run, on one `stillframe serve` (default settings, access
// log at info level to a file, as deployed):
//   1. cold resize   `image/resize,w_800/quality,q_80` of a 4000×3000 photo-like JPEG (q90), each request
//                    on an object never processed before (N copies with distinct bytes under distinct keys),
//                    sequentially; against a warm bare-sharp process with the worker's settings
//                    (sharp.concurrency(1), sharp.cache(false)) that reads the same file from disk and runs
//                    `sharp(buffer).resize(800).jpeg({ quality: 72 }).toBuffer()` (OSS's q is relative: q_80
//                    of the q90 source is 72; the server reads that from the JPEG's tables). The two alternate per
//                    file (order swapped every other file); target: median of the paired ratios ≤ 1.15×.
//                    With the server's Server-Timing (open = read the object, decode = sniff + decoder
//                    choice, encode = the sharp pipeline: decode, resize, encode).
//   2. memory        20 concurrent `image/resize,w_800` of 20 distinct 6000×4000 JPEGs; VmRSS of the
//                    server and its capture workers summed every 50 ms; target: peak < 1.5 GB, every answer
//                    a 200 or a 503 with Retry-After (counted).
//   3. cached hits   autocannon, 32 connections, against a cached `image/resize,w_400/format,webp`, and
//                    nginx serving the same bytes as a static file (if installed), rounds alternating.
// Progress on stderr; the tables on stdout and in bench/images-results.md.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import sharp from 'sharp';
import {
  runBench,
  BENCH_DIR,
  children,
  cpuMeter,
  cpuText,
  findNginx,
  fmt,
  freePort,
  get,
  getOk,
  killChildren,
  loadText,
  machineLine,
  mark,
  MEDIA_DIR,
  median,
  mib,
  p90,
  procStatus,
  progressFor,
  ratio,
  ratioText,
  readMetrics,
  ROOT,
  serverTiming,
  startNginx,
  startServer,
  stopChild,
  table,
} from './lib.js';

const progress = progressFor('images');
const COLD_SAMPLES = Number(process.env.BENCH_COLD_SAMPLES ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LOAD = { connections: 32, duration: Number(process.env.BENCH_LOAD_SECONDS ?? 10), warmup: 2 };
const BURST = 20;
const COLD_PROCESS = 'image/resize,w_800/quality,q_80';
/** The sources' JPEG quality: q_80 of it is what both sides encode at. */
const SOURCE_QUALITY = 90;
const MEMORY_PROCESS = 'image/resize,w_800';
const HIT_PROCESS = 'image/resize,w_400/format,webp';
const COLD_TARGET = 1.15;
const RSS_TARGET = 1.5e9;
const SAMPLE_MS = 50;
const PHOTO_RECIPE = 'p1';

// ------------------------------------------------------------------------------------------ media

/**
 * A photo-like JPEG (q90): smooth colour gradients (sums of low-frequency sines per channel) with
 * grain (xorshift noise, ±20 shared by the channels plus a little per channel), softened by a 0.7 px
 * blur. Generated once into bench/.media.
 */
async function photo(width: number, height: number): Promise<{ path: string; bytes: Buffer; describe: string }> {
  const name = `photo-${width}x${height}-q90-${PHOTO_RECIPE}.jpg`;
  const path = join(MEDIA_DIR, name);
  if (!existsSync(path)) {
    progress(`generating ${path} (once; cached afterwards)`);
    // Clamped: assignments saturate at 0 and 255 (and round).
    const raw = new Uint8ClampedArray(width * height * 3);
    let s = 12345 + width;
    const rnd = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 4294967296;
    };
    const amp = 20;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const grain = (rnd() - 0.5) * 2 * amp;
        raw[i] = 128 + 60 * Math.sin(x / 430 + y / 910) + 40 * Math.cos(y / 260 - x / 1500) + grain + (rnd() - 0.5) * amp * 0.6;
        raw[i + 1] = 120 + 70 * Math.sin(x / 700 - y / 380 + 1) + 30 * Math.sin((x + y) / 150) + grain + (rnd() - 0.5) * amp * 0.6;
        raw[i + 2] = 110 + 50 * Math.cos(x / 300 + 2) + 50 * Math.sin(y / 520) + grain + (rnd() - 0.5) * amp * 0.6;
      }
    }
    const jpeg = await sharp(Buffer.from(raw.buffer), { raw: { width, height, channels: 3 } }).blur(0.7).jpeg({ quality: SOURCE_QUALITY }).toBuffer();
    await mkdir(MEDIA_DIR, { recursive: true });
    const partial = join(MEDIA_DIR, `partial-${process.pid}-${name}`);
    await writeFile(partial, jpeg);
    await rename(partial, path);
  }
  const bytes = await readFile(path);
  return { path, bytes, describe: `${name}: ${width}×${height} synthetic photo (gradients + grain, 0.7 px blur), baseline JPEG q90 by sharp, ${fmt(bytes.length / 1e6, 2)} MB` };
}

/** The same JPEG with a COM segment right after SOI: other bytes (another ETag), the same pixels. */
function withComment(jpeg: Buffer, text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const head = Buffer.from([0xff, 0xfe, (body.length + 2) >> 8, (body.length + 2) & 0xff]);
  return Buffer.concat([jpeg.subarray(0, 2), head, body, jpeg.subarray(2)]);
}

// ------------------------------------------------------------------------------- bare sharp baseline

interface BareRun {
  /** Round trip seen from this process: line written → answer read. */
  wall: number;
  /** Inside the bare process: read the file + sharp. */
  inner: number;
  width: number;
  height: number;
  size: number;
}

// A warm process like a capture worker: sharp loaded once, concurrency 1, no operation cache; per line on
// stdin, a path: read the file whole, resize to 800 wide, JPEG at q_80 of the source's quality; one JSON
// line back.
const BARE_SCRIPT = `
const fs = require('node:fs');
const sharp = require('sharp');
sharp.concurrency(1);
sharp.cache(false);
const rl = require('node:readline').createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (path) => {
  chain = chain.then(async () => {
    const t0 = performance.now();
    const bytes = fs.readFileSync(path);
    const { data, info } = await sharp(bytes).resize(800).jpeg({ quality: ${SOURCE_QUALITY * 0.8} }).toBuffer({ resolveWithObject: true });
    process.stdout.write(JSON.stringify({ inner: performance.now() - t0, width: info.width, height: info.height, size: data.length }) + '\\n');
  });
});
`;

async function startBareSharp(): Promise<{ run(path: string): Promise<BareRun>; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', BARE_SCRIPT], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const lines = createInterface({ input: child.stdout });
  let waiting: ((line: string) => void) | undefined;
  lines.on('line', (line) => {
    const w = waiting;
    waiting = undefined;
    w?.(line);
  });
  const exited = new Promise<never>((_, rej) => child.once('exit', (code) => rej(new Error(`bare sharp process exited ${code}`))));
  exited.catch(() => undefined);
  return {
    pid: child.pid!,
    async run(path) {
      const started = performance.now();
      const line = await Promise.race([new Promise<string>((res) => {
        waiting = res;
        child.stdin.write(`${path}\n`);
      }), exited]);
      const wall = performance.now() - started;
      return { wall, ...(JSON.parse(line) as Omit<BareRun, 'wall'>) };
    },
    stop: () => {
      child.stdin.end();
      return stopChild(child, 'SIGTERM');
    },
  };
}

// ------------------------------------------------------------------------------------------- parts

interface ServerRun {
  ms: number;
  timing: Record<string, number>;
  size: number;
  width: number;
  height: number;
}

async function serverCold(url: string): Promise<ServerRun> {
  const r = await getOk(url);
  if (r.headers['x-cache'] !== 'MISS') throw new Error(`${url}: expected a result-cache miss, got X-Cache ${String(r.headers['x-cache'])}`);
  const meta = await sharp(r.body).metadata();
  return { ms: r.ms, timing: serverTiming(r.headers), size: r.body.length, width: meta.width, height: meta.height };
}

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

/** The last recorded result of bench/hits.ts (snapshot hits vs nginx), for comparison. */
async function lastSnapshotHits(): Promise<string> {
  try {
    const text = await readFile(join(BENCH_DIR, 'hits-results.md'), 'utf8');
    const row = /^\| stillframe \| [^|]+ \| (\d+) \|[^|]+\|[^|]+\| ([\d.]+×)/m.exec(text);
    const when = /(\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(text)?.[1];
    return row ? `${row[1]} requests/s, ${row[2]} nginx (bench/hits-results.md, ${when ?? 'undated'})` : 'not found in bench/hits-results.md';
  } catch {
    return 'no bench/hits-results.md';
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineLine();
  const nginxBin = findNginx();
  const small = await photo(4000, 3000);
  const large = await photo(6000, 4000);
  const work = await mkdtemp(join(tmpdir(), 'stillframe-images-'));
  const out: string[] = [
    '# Image processing (npm run bench:images)',
    '',
    `- ${machine}`,
    `- sharp ${sharp.versions.sharp} with libvips ${sharp.versions.vips}; stillframe: \`node bin/stillframe.js serve\` (built from dist/), default settings (one capture worker per core; workers run sharp with concurrency 1 and no operation cache), access log at info level (JSON lines to a file), local directory storage, page cache warm`,
    `- Sources: ${small.describe}; ${large.describe}. Copies differ by a JPEG comment segment (distinct bytes and ETags, the same pixels).`,
    '',
  ];
  const emit = (lines: string[]) => {
    process.stdout.write(`${lines.join('\n')}\n`);
    out.push(...lines);
  };
  try {
    const media = join(work, 'data', 'media');
    await mkdir(media, { recursive: true });
    const coldKeys: string[] = [];
    for (let i = 0; i < COLD_SAMPLES + 4; i++) {
      const key = i < 4 ? `warm-${i}.jpg` : `cold-${i - 4}.jpg`;
      await writeFile(join(media, key), withComment(small.bytes, `stillframe bench copy ${key}`));
      if (i >= 4) coldKeys.push(key);
    }
    const burstKeys = Array.from({ length: BURST }, (_, i) => `big-${i}.jpg`);
    for (const key of burstKeys) await writeFile(join(media, key), withComment(large.bytes, `stillframe bench copy ${key}`));
    await writeFile(join(media, 'hit.jpg'), small.bytes);

    const server = await startServer({ STILLFRAME_STORAGE: `file://${join(work, 'data')}`, STILLFRAME_LOG_LEVEL: 'info' }, { logFile: join(work, 'access.log') });
    const urlOf = (key: string, process: string) => `${server.base}/media/${key}?x-oss-process=${process}`;
    const bare = await startBareSharp();

    // ---------------------------------------------------------------------------------- 1. cold resize
    progress(`cold resize: warming up (4 server requests, 2 bare runs), then ${COLD_SAMPLES} distinct objects, server and bare sharp alternating`);
    for (let i = 0; i < 4; i++) await serverCold(urlOf(`warm-${i}.jpg`, COLD_PROCESS));
    for (let i = 0; i < 2; i++) await bare.run(join(media, `warm-${i}.jpg`));
    const serverRuns: ServerRun[] = [];
    const bareRuns: BareRun[] = [];
    const coldMeter = cpuMeter(() => [...server.pids(), bare.pid]);
    for (const [i, key] of coldKeys.entries()) {
      const runServer = async () => serverRuns.push(await serverCold(urlOf(key, COLD_PROCESS)));
      const runBare = async () => bareRuns.push(await bare.run(join(media, key)));
      for (const step of i % 2 ? [runBare, runServer] : [runServer, runBare]) await step();
      progress(`  ${key}: server ${fmt(serverRuns.at(-1)!.ms)} ms, bare ${fmt(bareRuns.at(-1)!.wall)} ms`);
    }
    const coldCpu = coldMeter.stop();
    await bare.stop();
    for (const [i, s] of serverRuns.entries()) {
      const b = bareRuns[i]!;
      if (s.width !== b.width || s.height !== b.height) throw new Error(`server answered ${s.width}x${s.height}, bare sharp ${b.width}x${b.height}`);
    }
    const sMs = serverRuns.map((r) => r.ms);
    const bMs = bareRuns.map((r) => r.wall);
    const paired = serverRuns.map((r, i) => ratio(r.ms, bareRuns[i]!.wall));
    const coldVerdict = median(paired);
    const st = (name: string) => median(serverRuns.map((r) => r.timing[name] ?? NaN));
    const queue = median(serverRuns.map((r) => (r.timing.total ?? NaN) - (r.timing.open ?? 0) - (r.timing.decode ?? 0) - (r.timing.encode ?? 0)));
    const http = median(serverRuns.map((r) => r.ms - (r.timing.total ?? NaN)));
    emit([
      `## 1. Cold resize: \`${COLD_PROCESS}\` of the 4000×3000 JPEG`,
      '',
      `${COLD_SAMPLES} objects, each requested once (every answer \`X-Cache: MISS\`), sequentially, HTTP keep-alive; the bare process gets the same file after or before each request (order swapped every other object). CPU during the section: ${cpuText(coldCpu)}.`,
      '',
      table(
        ['', 'ms median / p90', 'output', 'vs bare sharp: ratio of medians', 'median of paired ratios', 'target'],
        [
          [
            'stillframe (client wall time)',
            `${fmt(median(sMs), 1)} / ${fmt(p90(sMs), 1)}`,
            `${serverRuns[0]!.width}×${serverRuns[0]!.height}, ${fmt(median(serverRuns.map((r) => r.size)) / 1024, 1)} KiB`,
            ratioText(ratio(median(sMs), median(bMs))),
            `**${ratioText(coldVerdict)}**`,
            `≤ ${COLD_TARGET.toFixed(2)}×${mark(coldVerdict <= COLD_TARGET)}`,
          ],
          [
            'bare sharp, warm process, concurrency 1, cache off (round trip)',
            `${fmt(median(bMs), 1)} / ${fmt(p90(bMs), 1)}`,
            `${bareRuns[0]!.width}×${bareRuns[0]!.height}, ${fmt(median(bareRuns.map((r) => r.size)) / 1024, 1)} KiB`,
            '1.00× (baseline)',
            '',
            '',
          ],
        ],
      ),
      '',
      `sharp's default concurrency on this glibc Linux is already ${sharp.concurrency()} (without jemalloc sharp defaults to 1), so the bare process runs with sharp's defaults too. Inside the bare process (read + sharp, without the pipe round trip): median ${fmt(median(bareRuns.map((r) => r.inner)), 1)} ms.`,
      '',
      table(
        ['Where the server\'s time goes (medians, ms)', 'client total', 'open (read the object)', 'decode (sniff)', 'encode (sharp: decode + resize + encode)', 'queue, IPC, prepare', 'HTTP'],
        [['stillframe', fmt(median(sMs), 1), fmt(st('open'), 1), fmt(st('decode'), 1), fmt(st('encode'), 1), fmt(queue, 1), fmt(http, 1)]],
      ),
      '',
    ]);

    // --------------------------------------------------------------------------------------- 2. memory
    progress(`memory: ${BURST} concurrent ${MEMORY_PROCESS} of distinct 6000×4000 JPEGs, RSS sampled every ${SAMPLE_MS} ms`);
    const metricsBefore = await readMetrics(server.base);
    const rssNow = () => {
      const per = new Map<number, number>();
      for (const pid of server.pids()) {
        const s = procStatus(pid);
        if (s) per.set(pid, s.rss);
      }
      return per;
    };
    const sumOf = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const idle = rssNow();
    let peak = sumOf(idle);
    let peakPer = idle;
    let samples = 0;
    const seen = new Set<number>(idle.keys());
    const sampler = setInterval(() => {
      const now = rssNow();
      samples++;
      for (const pid of now.keys()) seen.add(pid);
      const total = sumOf(now);
      if (total > peak) {
        peak = total;
        peakPer = now;
      }
    }, SAMPLE_MS);
    const burstMeter = cpuMeter(() => server.pids());
    const burstStart = performance.now();
    const answers = await Promise.all(burstKeys.map((key) => get(urlOf(key, MEMORY_PROCESS))));
    const burstMs = performance.now() - burstStart;
    clearInterval(sampler);
    const burstCpu = burstMeter.stop();
    const hwm = server.pids().map((pid) => ({ pid, s: procStatus(pid) }));
    const metricsAfter = await readMetrics(server.base);
    const restarts = metricsAfter('stillframe_worker_restarts_total') - metricsBefore('stillframe_worker_restarts_total');
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    const busyWithRetry = busy.filter((a) => a.headers['retry-after'] !== undefined);
    const other = answers.filter((a) => a.status !== 200 && a.status !== 503);
    const okSizes = new Set<string>();
    for (const a of ok) {
      const m = await sharp(a.body).metadata();
      if (m.width !== 800) throw new Error(`a burst answer is ${m.width}x${m.height}, not 800 wide`);
      okSizes.add(`${m.width}×${m.height}`);
    }
    const answersOk = other.length === 0 && busyWithRetry.length === busy.length;
    const okMs = ok.map((a) => a.ms);
    const describePer = (m: Map<number, number>) =>
      [...m.entries()].map(([pid, rss]) => `${pid === server.pid ? 'server' : `worker ${pid}`} ${mib(rss)}`).join(', ');
    emit([
      `## 2. Memory: ${BURST} concurrent \`${MEMORY_PROCESS}\` of distinct 6000×4000 JPEGs`,
      '',
      `VmRSS of the server process and its capture workers (\`/proc/<pid>/status\`), summed every ${SAMPLE_MS} ms during the burst (${samples} samples, ${seen.size} processes seen). CPU during the burst: ${cpuText(burstCpu)}.`,
      '',
      table(
        ['Measurement', 'value', 'target'],
        [
          ['total RSS before the burst', `${mib(sumOf(idle))} (${describePer(idle)})`, ''],
          ['peak total RSS during the burst', `**${mib(peak)}** (${fmt(peak / 1e9, 2)} GB): ${describePer(peakPer)}`, `< 1.5 GB${mark(peak < RSS_TARGET)}`],
          ['VmHWM after the burst (each process\'s own peak since start)', hwm.map(({ pid, s }) => `${pid === server.pid ? 'server' : `worker ${pid}`} ${s ? mib(s.hwm) : 'gone'}`).join(', '), ''],
          [
            'answers',
            `${ok.length} × 200 (${[...okSizes].join(', ')}), ${busy.length} × 503 (${busyWithRetry.length} with Retry-After), ${other.length} other${other.length ? ` (${other.map((a) => a.status).join(', ')})` : ''}`,
            `200 or 503 + Retry-After${mark(answersOk)}`,
          ],
          ['burst wall time; latency of the 200s median / max', `${fmt(burstMs)} ms; ${fmt(median(okMs))} / ${fmt(Math.max(...okMs))} ms`, ''],
          ['worker restarts during the burst', String(restarts), ''],
        ],
      ),
      '',
    ]);

    // --------------------------------------------------------------------------------- 3. cached hits
    const hitUrl = urlOf('hit.jpg', HIT_PROCESS);
    const first = await getOk(hitUrl);
    const again = await getOk(hitUrl);
    if (again.headers['x-cache'] !== 'HIT' || !again.body.equals(first.body)) throw new Error('the image did not come back as an identical cache hit');
    const body = first.body;
    const targets: Record<string, () => Promise<Load>> = { stillframe: () => load(hitUrl) };
    let nginx: { base: string; stop(): Promise<void> } | undefined;
    if (nginxBin) {
      const www = join(work, 'www');
      await mkdir(www, { recursive: true });
      await chmod(work, 0o755);
      await writeFile(join(www, 'hit.webp'), body, { mode: 0o644 });
      await chmod(www, 0o755);
      nginx = await startNginx(nginxBin, work, await freePort());
      const nginxUrl = `${nginx.base}/hit.webp`;
      if (!(await getOk(nginxUrl)).body.equals(body)) throw new Error('nginx does not serve the same bytes');
      targets.nginx = () => load(nginxUrl);
    } else {
      progress('nginx not found: cached hits are measured without their baseline');
    }
    const names = Object.keys(targets);
    const results: Record<string, Load[]> = Object.fromEntries(names.map((n) => [n, [] as Load[]]));
    const jobsBefore = (await readMetrics(server.base))('stillframe_worker_jobs_total');
    const hitMeter = cpuMeter(() => server.pids());
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...names].reverse() : names;
      for (const name of order) {
        progress(`cached hits, round ${round + 1}/${ROUNDS}: ${name}, autocannon ${LOAD.connections} connections × ${LOAD.duration} s (+${LOAD.warmup} s warm-up)`);
        results[name]!.push(await targets[name]!());
      }
    }
    const hitCpu = hitMeter.stop();
    const jobs = (await readMetrics(server.base))('stillframe_worker_jobs_total') - jobsBefore;
    await nginx?.stop();
    await server.stop();
    const hitPaired = nginx ? results.stillframe!.map((r, i) => ratio(r.rps, results.nginx![i]!.rps)) : [];
    const hitRow = (name: string, extra: string) => {
      const runs = results[name]!;
      return [name, runs.map((r) => fmt(r.rps)).join(' / '), fmt(median(runs.map((r) => r.rps))), `${fmt(median(runs.map((r) => r.p50)))} / ${fmt(median(runs.map((r) => r.p99)))}`, String(runs.reduce((n, r) => n + r.bad, 0)), extra];
    };
    emit([
      `## 3. Cached hits: \`${HIT_PROCESS}\` (${body.length} B WebP) of the 4000×3000 JPEG`,
      '',
      `autocannon, ${LOAD.connections} connections, ${LOAD.duration} s per run after a ${LOAD.warmup} s warm-up, ${ROUNDS} rounds, order swapped every round; ${nginxBin ? `nginx: ${nginxBin}, worker_processes auto, access_log off, sendfile, the same bytes as a static file` : 'nginx not installed'}. CPU during the runs: ${cpuText(hitCpu)}.`,
      '',
      table(
        ['server', 'requests/s per round', 'median requests/s', 'latency p50 / p99 ms', 'non-2xx + errors', 'vs nginx (median of per-round ratios)'],
        [hitRow('stillframe', nginx ? `**${ratioText(median(hitPaired))}**` : 'n/a'), ...(nginx ? [hitRow('nginx', '1.00× (baseline)')] : [])],
      ),
      '',
      `Capture-worker jobs during stillframe's runs: ${jobs} (a hit decodes nothing). For comparison, the snapshot-hit benchmark's last recorded result (a 10 KB JPEG frame, npm run bench:hits): ${await lastSnapshotHits()}.`,
      '',
      `Whole run: ${fmt((performance.now() - started) / 1000)} s; load average at the end ${loadText()}.`,
      '',
    ]);
    await writeFile(join(BENCH_DIR, 'images-results.md'), out.join('\n'));
  } finally {
    killChildren();
    await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
