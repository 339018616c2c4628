// Scale-out benchmark (issue 6): `npx tsx bench/scale.ts` (or `npm run bench:scale`), ~1–2 minutes.
//  1. Task throughput through Redis + BullMQ with 1 vs 2 stillframe nodes on this machine: TASKS tasks
//     (Interval 1 over a 20 s 640×360 testsrc2 H.264 file, GOP 2 s — real decoding work in the capture
//     workers: 20 JPEG frames each, w 320) submitted to node A; wall time from the first submit until
//     GetTask says Succeeded for all. Both nodes share the same 2 cores, so this shows the queue spreading
//     work, not more CPU.
//  2. Cached-hit requests/s through the shipped nginx.conf (proxy_cache HIT) vs stillframe directly
//     (its in-process image cache), autocannon, same snapshot URL, same run.
// Uses a real redis-server and nginx (as the tests do); prints a markdown table on stdout.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startNginx, startRedis } from '../test/support/fleet.js';
import { rpc, startServe, stopAll, tempDir, type Node } from '../test/support/processes.js';
import { waitFor } from '../test/support/wait.js';
import { BENCH_DIR, benchMedia, machineLine } from './lib.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 20);
const LOAD = { connections: 32, duration: Number(process.env.BENCH_SECONDS ?? 8), warmup: 2 };
const progress = (msg: string) => process.stderr.write(`[bench:scale] ${msg}\n`);

async function throughput(workers: number, root: string, redisUrl: string): Promise<{ seconds: number; perNode: number[] }> {
  const prefix = `bench${workers}`;
  const env = { STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_REDIS_URL: redisUrl, STILLFRAME_REDIS_PREFIX: prefix, STILLFRAME_LOG_LEVEL: 'info' };
  const nodes: Node[] = [];
  for (let i = 0; i < workers; i++) nodes.push(await startServe({ ...env, STILLFRAME_STATE_DIR: join(root, `.state-${prefix}-${i}`) }));
  const a = nodes[0]!;
  await rpc(a.url, 'CreateProject', { ProjectName: 'bench' });
  const started = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const res = await rpc(a.url, 'CreateMediaConvertTask', {
      ProjectName: 'bench',
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Interval: 1, Width: 320, URI: `oss://media/out-${prefix}/${i}/{index}.jpg` }] } }],
    });
    if (!res.TaskId) throw new Error(JSON.stringify(res));
    ids.push(res.TaskId as string);
  }
  const done = new Set<string>();
  await waitFor(async () => {
    for (const id of ids) {
      if (done.has(id)) continue;
      const task = await rpc(a.url, 'GetTask', { ProjectName: 'bench', TaskId: id, TaskType: 'MediaConvert' });
      if (task.Status === 'Failed') throw new Error(`${id}: ${task.Code} ${task.Message}`);
      if (task.Status === 'Succeeded') done.add(id);
    }
    return done.size === ids.length;
  }, 600_000);
  const seconds = (performance.now() - started) / 1000;
  const perNode = nodes.map((n) => n.output().split('\n').filter((l) => l.includes('"msg":"task finished"')).length);
  for (const n of nodes) n.child.kill('SIGTERM');
  await Promise.all(nodes.map((n) => new Promise((r) => (n.child.exitCode !== null ? r(null) : n.child.once('exit', r)))));
  return { seconds, perNode };
}

async function rps(url: string): Promise<number> {
  await autocannon({ url, connections: LOAD.connections, duration: LOAD.warmup });
  const r = await autocannon({ url, connections: LOAD.connections, duration: LOAD.duration });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
}

async function main() {
  const root = await tempDir('bench-scale');
  await mkdir(join(root, 'media'), { recursive: true });
  const machine = machineLine();
  const media = await benchMedia(progress, { width: 640, height: 360, fps: 25, seconds: 20, gop: 50, preset: 'veryfast' });
  await copyFile(media.path, join(root, 'media', 'v.mp4'));
  const redis = await startRedis();
  const rows: string[] = [];

  progress(`${TASKS} tasks, 1 node`);
  const one = await throughput(1, root, redis.url);
  progress(`${TASKS} tasks, 2 nodes`);
  const two = await throughput(2, root, redis.url);

  progress('cached hits: direct vs through nginx');
  const node = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'warn' });
  const cdn = await startNginx(Number(new URL(node.url).port));
  const path = '/media/v.mp4?x-oss-process=video/snapshot,t_5000,f_jpg,w_320';
  const check = await fetch(`${cdn.url}${path}`);
  await check.arrayBuffer();
  const direct = await rps(`${node.url}${path}`);
  const viaNginx = await rps(`${cdn.url}${path}`);
  const status = (await fetch(`${cdn.url}${path}`)).headers.get('x-cache-status');

  const load = loadavg().map((l) => l.toFixed(1)).join(' / ');
  rows.push('| measurement | 1 | 2 | 2 vs 1 |', '|---|---|---|---|');
  rows.push(
    `| ${TASKS} tasks × 20 frames (Interval 1, w 320), stillframe nodes 1 vs 2: wall s | ${one.seconds.toFixed(1)} | ${two.seconds.toFixed(1)} (tasks per node ${two.perNode.join(' + ')}) | ${(one.seconds / two.seconds).toFixed(2)}× throughput |`,
    `| … tasks/s | ${(TASKS / one.seconds).toFixed(2)} | ${(TASKS / two.seconds).toFixed(2)} | |`,
  );
  rows.push(
    `| cached hit req/s, stillframe direct (1) vs through nginx (2, X-Cache-Status ${status}), ${LOAD.connections} connections | ${Math.round(direct)} | ${Math.round(viaNginx)} | ${(viaNginx / direct).toFixed(2)}× |`,
  );
  console.log(rows.join('\n'));
  const report = `# Scale-out benchmark (npm run bench:scale)\n\n${machine}; load average at the end ${load}.\n\nSource: ${media.describe}.\n\n${rows.join('\n')}\n`;
  await writeFile(join(BENCH_DIR, 'scale-results.md'), report);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    process.exit();
  });
