// 200 concurrent distinct cold snapshot requests against a real server process on this (2-core) machine:
// no crash, bounded memory, the excess answered 503 + Retry-After, every 200 the right frame, and no
// capture left running (every worker idle again, as many workers as configured) — also when a third of
// the clients hang up mid-request.
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rssOf, startServe, workerPids, type Node } from '../support/processes.js';
import { fixture, frameAt, readFrameIndex } from '../support/fixtures.js';
import { metricValue } from '../support/server.js';
import { waitFor } from '../support/wait.js';

const N = 200;
const WORKERS = 2;
let root: string;
let server: Node;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stillframe-load-'));
  await mkdir(join(root, 'media'));
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 8 });
  for (let i = 0; i < 4; i++) await copyFile(video, join(root, 'media', `v${i}.mp4`));
  server = await startServe({ HOST: '127.0.0.1', STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'warn', STILLFRAME_WORKERS: String(WORKERS) });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every capture over: no worker busy, no slot held, and the pool at its size (none lost, none extra). */
async function settled(): Promise<boolean> {
  return (
    (await metricValue(server.url, 'stillframe_workers_busy')) === 0 &&
    (await metricValue(server.url, 'stillframe_captures_active')) === 0 &&
    (await workerPids(server.child.pid!)).length === WORKERS
  );
}

async function burst(tag: number, abortEvery = 0) {
  const pid = server.child.pid!;
  let peak = await rssOf(pid);
  const sampler = setInterval(() => void rssOf(pid).then((r) => (peak = Math.max(peak, r)), () => {}), 25);
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      // Distinct URLs: 4 objects × distinct times (never the same frame twice per object), each
      // inside frame i's display interval of the 8 s (200-frame) video — never past its end.
      const t = 40 * i + 20 + tag;
      const url = `${server.url}/media/v${i % 4}.mp4?x-oss-process=video/snapshot,t_${t},f_jpg,w_160`;
      const controller = new AbortController();
      if (abortEvery && i % abortEvery === 0) setTimeout(() => controller.abort(), 50 + (i % 7) * 30);
      try {
        const res = await fetch(url, { signal: controller.signal });
        const body = Buffer.from(await res.arrayBuffer());
        return { t, status: res.status, retryAfter: res.headers.get('retry-after'), body };
      } catch (err) {
        return { t, status: 0, retryAfter: null, body: Buffer.alloc(0), err };
      }
    }),
  );
  clearInterval(sampler);
  return { results, ms: Date.now() - started, peak };
}

describe(`${N} concurrent distinct cold requests`, () => {
  it('no crash, bounded memory, 503 + Retry-After for the excess, every 200 the right frame, no capture left running', async () => {
    // Warm up (module loading, sharp, first probe) so the RSS baseline is the steady state.
    expect((await fetch(`${server.url}/media/v0.mp4?x-oss-process=video/snapshot,t_0,w_160`)).status).toBe(200);
    const baseline = await rssOf(server.child.pid!);
    const { results, ms, peak } = await burst(1);
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    console.log(`load: ${N} requests in ${ms} ms: ${ok.length} × 200, ${busy.length} × 503; RSS ${Math.round(baseline / 2 ** 20)} MiB → peak ${Math.round(peak / 2 ** 20)} MiB`);
    expect(ok.length + busy.length).toBe(N);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    for (const r of busy) expect(Number(r.retryAfter)).toBeGreaterThan(0);
    for (const r of ok) expect(await readFrameIndex(r.body), `t_${r.t}`).toBe(frameAt(r.t));
    expect(peak - baseline).toBeLessThan(400 * 2 ** 20);
    await waitFor(settled, 2000);
    expect(await metricValue(server.url, 'stillframe_worker_restarts_total')).toBe(0);
    expect(server.child.exitCode).toBeNull();
  }, 120_000);

  it('a third of the clients hang up mid-request: their captures stop, the others are answered', async () => {
    const { results } = await burst(2, 3);
    const aborted = results.filter((r) => r.status === 0);
    expect(aborted.length).toBeGreaterThan(0);
    for (const r of results.filter((r) => r.status === 200)) expect(await readFrameIndex(r.body)).toBe(frameAt(r.t));
    // Abandoned jobs end (a worker still decoding one is replaced): every worker idle, none missing.
    await waitFor(settled, 3000);
    // Still serving.
    expect((await fetch(`${server.url}/media/v3.mp4?x-oss-process=video/snapshot,t_7000,w_160`)).status).toBe(200);
    const health = (await (await fetch(`${server.url}/_/health`)).json()) as { captures?: { active: number; queued: number } };
    expect(health).toBeTruthy();
  }, 120_000);
});
