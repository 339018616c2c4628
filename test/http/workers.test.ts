// Proof that decoding in capture worker processes keeps the server whole when a worker goes wrong, on a
// real `stillframe serve` process: a worker killed (SIGKILL) or crashing in native code (SIGSEGV) in the
// middle of captures, a decode past its deadline, a job whose client left. Every request in flight is
// answered — 200 (a job that lost its worker is retried once on another), 502 when the retry dies too,
// 504 at the deadline; never 400, never a hang — the server process stays up, the pool replaces the
// worker (stillframe_worker_restarts_total), and the next request gets the right frame. Also: with two
// workers, jobs of a source go to the worker that has it open (seen in /proc: which worker holds the
// file open; Server-Timing's open;dur is not enough, as a lookup of an open source can itself read
// 0.1 ms or more on a loaded machine).
import { copyFile, mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, frameAt, readFrameIndex, SLOW_DECODE, slowDecodeFixture } from '../support/fixtures.js';
import { logLines, openFiles, startServe, stopAll, tempDir, workerPids, type Node } from '../support/processes.js';
import { metricValue, workerRestarts } from '../support/server.js';
import { isRunning, waitFor } from '../support/wait.js';

// The exact frame at SLOW_DECODE.lastFrameMs needs all 300 frames of the noise fixture decoded: about a
// second or more of one worker's time. Its frame is the last one (11 960 ms).
const SLOW = `video/snapshot,t_${SLOW_DECODE.lastFrameMs}`;
const LAST_FRAME_MS = ((SLOW_DECODE.seconds * SLOW_DECODE.fps - 1) * 1000) / SLOW_DECODE.fps;
// Longer still: that frame scaled up to 4096×2304 and encoded as PNG (noise: a second or more of zlib).
// Deadlines below are set between this job and a quick capture, far from both.
const HEAVY = `${SLOW},f_png,w_4096,h_2304`;
// A capture of the frame-code video takes milliseconds.
const VIDEO = { container: 'mp4', codec: 'h264', seconds: 8 } as const;
// Each test starts a server process and its workers: on a loaded 2-core machine that alone can take 10 s.
const TEST_TIMEOUT = 120_000;

let slowFile: string;
let videoFile: string;

beforeAll(async () => {
  [slowFile, videoFile] = await Promise.all([slowDecodeFixture(), fixture(VIDEO)]);
});
afterEach(stopAll);

async function serve(env: Record<string, string>): Promise<Node & { root: string }> {
  const root = await tempDir('workers');
  await mkdir(join(root, 'media'));
  await copyFile(slowFile, join(root, 'media', 'slow.mp4'));
  await copyFile(videoFile, join(root, 'media', 'v.mp4'));
  // Requests wait for a worker as long as it takes: a 503 from the queue deadline on a loaded machine
  // would say nothing about what these tests are about.
  const node = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_QUEUE_TIMEOUT_MS: '120000', ...env });
  await waitFor(async () => (await workerPids(node.child.pid!)).length === Number(env.STILLFRAME_WORKERS), 30_000);
  return Object.assign(node, { root });
}

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  headers: Headers;
  body: Buffer;
}

/** GET with a generous client-side limit: a request that hangs shows up as status 0, not as a stuck test. */
async function get(node: Node, object: string, process: string, signal?: AbortSignal): Promise<Answer> {
  try {
    const res = await fetch(`${node.url}/${object}?x-oss-process=${process}`, { signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000) });
    const body = Buffer.from(await res.arrayBuffer());
    const text = res.headers.get('content-type') === 'application/xml' ? body.toString() : '';
    return { status: res.status, code: /<Code>(.*)<\/Code>/.exec(text)?.[1], message: /<Message>(.*)<\/Message>/.exec(text)?.[1], headers: res.headers, body };
  } catch (err) {
    if (signal?.aborted) throw err;
    return { status: 0, code: undefined, message: String(err), headers: new Headers(), body: Buffer.alloc(0) };
  }
}

/** Distinct quick captures of the frame-code video (no two share a cache entry). */
const quickTimes = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => 100 + offset + 370 * i);
const quick = (node: Node, t: number) => get(node, 'media/v.mp4', `video/snapshot,t_${t},w_160`);

async function expectFrame(answer: Answer, t: number) {
  expect(answer.status, `t_${t}: ${answer.code} ${answer.message}`).toBe(200);
  expect(await readFrameIndex(answer.body), `t_${t}`).toBe(frameAt(t));
}

/** The last frame of the noise fixture, whole. */
async function expectLastFrame(answer: Answer) {
  expect(answer.status, `${answer.code} ${answer.message}`).toBe(200);
  expect(answer.headers.get('x-frame-time')).toBe(String(LAST_FRAME_MS));
  expect(await sharp(answer.body, { failOn: 'truncated' }).metadata()).toMatchObject({ format: 'jpeg', width: 960, height: 540 });
}

const busyWorkers = (node: Node) => metricValue(node.url, 'stillframe_workers_busy');
const capturesActive = (node: Node) => metricValue(node.url, 'stillframe_captures_active');
const jobsOf = (node: Node, outcome: string) => metricValue(node.url, 'stillframe_worker_jobs_total', { kind: 'capture', outcome });

async function expectServing(node: Node) {
  expect(node.child.exitCode).toBeNull();
  expect(node.child.signalCode).toBeNull();
  expect((await fetch(`${node.url}/_/health`)).status).toBe(200);
}

describe('a worker that dies during captures', { timeout: TEST_TIMEOUT }, () => {
  it.each(['SIGKILL', 'SIGSEGV'] as const)('%s: every request in flight is answered 200 (the lost job retried), the server stays up, the worker is replaced', async (signal) => {
    const node = await serve({ STILLFRAME_WORKERS: '2' });
    const before = await workerPids(node.child.pid!);
    // Both workers deep in a decode, ten more captures waiting for a worker.
    const slow = [get(node, 'media/slow.mp4', SLOW), get(node, 'media/slow.mp4', `${SLOW},w_960,h_540`)];
    await waitFor(async () => (await busyWorkers(node)) === 2);
    const times = quickTimes(10);
    const waiting = times.map((t) => quick(node, t));
    const victim = before[0]!;
    process.kill(victim, signal);

    const [first, second] = await Promise.all(slow);
    const answers = await Promise.all(waiting);
    // The job that lost its worker ran again on another one: its client never saw the crash.
    await expectLastFrame(first!);
    await expectLastFrame(second!);
    for (const [i, answer] of answers.entries()) await expectFrame(answer, times[i]!);
    // One job more than requests: the one that died, then its retry.
    expect(await jobsOf(node, 'died')).toBe(1);
    expect(await jobsOf(node, 'ok')).toBe(2 + times.length);

    // The server is up; the dead worker was replaced, the other one untouched.
    await expectServing(node);
    expect(await isRunning(victim)).toBe(false);
    expect(await workerRestarts(node.url)).toEqual({ crash: 1 });
    await waitFor(async () => (await workerPids(node.child.pid!)).length === 2);
    const after = await workerPids(node.child.pid!);
    expect(after).toContain(before[1]);
    expect(after).not.toContain(victim);
    const died = logLines(node.output(), 'capture worker died during a job');
    expect(died).toEqual([expect.objectContaining({ pid: victim, signal, job: 'capture' })]);

    // The next requests get the right frames (whichever worker serves them).
    for (const t of quickTimes(4, 20)) await expectFrame(await quick(node, t), t);
    expect(await capturesActive(node)).toBe(0);
  });

  it('killed again under its retry: 502 BadGateway (never 400), and the server goes on', async () => {
    const node = await serve({ STILLFRAME_WORKERS: '1' });
    const [first] = await workerPids(node.child.pid!);
    const lost = get(node, 'media/slow.mp4', SLOW);
    await waitFor(async () => (await busyWorkers(node)) === 1);
    // Queued behind it for the only worker.
    const queued = quick(node, 3100);
    process.kill(first!, 'SIGKILL');
    // The retry starts on the new worker: kill that one too, in the middle of the decode.
    let second: number | undefined;
    await waitFor(async () => {
      second = (await workerPids(node.child.pid!)).find((pid) => pid !== first);
      return second !== undefined && (await busyWorkers(node)) === 1;
    }, 20_000);
    process.kill(second!, 'SIGSEGV');

    const answer = await lost;
    expect(answer.status, `${answer.code} ${answer.message}`).toBe(502);
    expect(answer.code).toBe('BadGateway');
    expect(answer.message).toMatch(/capture worker stopped unexpectedly \(SIGSEGV\)/);
    // The request queued behind it is served by the third worker.
    await expectFrame(await queued, 3100);
    await expectServing(node);
    expect(await workerRestarts(node.url)).toEqual({ crash: 2 });
    expect(logLines(node.output(), 'capture worker died during a job').map((l) => l.signal)).toEqual(['SIGKILL', 'SIGSEGV']);
    const third = await workerPids(node.child.pid!);
    expect(third).toHaveLength(1);
    expect(third).not.toContain(first);
    expect(third).not.toContain(second);
    await expectFrame(await quick(node, 5000), 5000);
  });
});

describe('workers killed by the server lose no other request', { timeout: TEST_TIMEOUT }, () => {
  it('a decode past its deadline: 504 for it, the other captures answered right, only its worker replaced', async () => {
    const node = await serve({ STILLFRAME_WORKERS: '2', STILLFRAME_DECODE_TIMEOUT_MS: '1200' });
    const before = await workerPids(node.child.pid!);
    const started = Date.now();
    const late = get(node, 'media/slow.mp4', HEAVY);
    await waitFor(async () => (await busyWorkers(node)) === 1);
    const times = quickTimes(16);
    const others = times.map((t) => quick(node, t));

    const answer = await late;
    expect(answer.status, `${answer.code} ${answer.message}`).toBe(504);
    expect(answer.code).toBe('GatewayTimeout');
    expect(Date.now() - started).toBeLessThan(5000);
    for (const [i, other] of (await Promise.all(others)).entries()) await expectFrame(other, times[i]!);
    expect(await workerRestarts(node.url)).toEqual({ timeout: 1 });
    // The worker of the late job was killed; the one serving the others lives on.
    const gone = [];
    for (const pid of before) if (!(await isRunning(pid))) gone.push(pid);
    expect(gone).toHaveLength(1);
    await waitFor(async () => (await workerPids(node.child.pid!)).length === 2);
    expect(await workerPids(node.child.pid!)).not.toContain(gone[0]);
    await expectServing(node);
    await expectFrame(await quick(node, 7000), 7000);
  });

  it('a job whose client hung up: its worker killed, the other captures answered right, every slot freed', async () => {
    const node = await serve({ STILLFRAME_WORKERS: '2' });
    const before = await workerPids(node.child.pid!);
    const controller = new AbortController();
    const abandoned = get(node, 'media/slow.mp4', HEAVY, controller.signal).catch((err: Error) => err);
    await waitFor(async () => (await busyWorkers(node)) === 1);
    const times = quickTimes(16);
    const others = times.map((t) => quick(node, t));
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    expect(await abandoned).toBeInstanceOf(Error);

    for (const [i, other] of (await Promise.all(others)).entries()) await expectFrame(other, times[i]!);
    await waitFor(async () => (await workerRestarts(node.url)).abandoned === 1, 5000);
    expect(await workerRestarts(node.url)).toEqual({ abandoned: 1 });
    let gone: number[] = [];
    await waitFor(async () => {
      gone = [];
      for (const pid of before) if (!(await isRunning(pid))) gone.push(pid);
      return gone.length > 0;
    }, 5000);
    expect(gone).toHaveLength(1);
    await waitFor(async () => (await capturesActive(node)) === 0 && (await workerPids(node.child.pid!)).length === 2);
    await expectServing(node);
    await expectFrame(await quick(node, 7000), 7000);
  });
});

describe('routing', { timeout: TEST_TIMEOUT }, () => {
  it('with two workers, jobs of a source go to the worker that has it open', async () => {
    const node = await serve({ STILLFRAME_WORKERS: '2' });
    const [videoPath, slowPath] = await Promise.all([realpath(join(node.root, 'media', 'v.mp4')), realpath(join(node.root, 'media', 'slow.mp4'))]);
    // A worker keeps the sources it opened open (demuxer and decoder, and so the file descriptor).
    const holders = async (path: string) => {
      const held = [];
      for (const pid of await workerPids(node.child.pid!)) if ((await openFiles(pid)).includes(path)) held.push(pid);
      return held;
    };
    const shot = async (object: string, t: number) => {
      const answer = await get(node, object, `video/snapshot,t_${t},w_160`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-cache')).toBe('MISS');
      return answer;
    };
    const openMs = (answer: Answer) => Number(/^open;dur=([\d.]+),/.exec(answer.headers.get('server-timing') ?? '')?.[1]);

    // First frame of the file: a worker opens it (Server-Timing shows the open).
    const opening = await shot('media/v.mp4', 1000);
    expect(openMs(opening)).toBeGreaterThan(0);
    expect(await readFrameIndex(opening.body)).toBe(frameAt(1000));
    const [owner] = await holders(videoPath);
    expect(owner).toBeDefined();
    // Were jobs handed to the longest-idle worker, the next one would land on the other worker and open
    // the file there too. They go to the worker that has it open: still one holder, the same one.
    for (const t of [2000, 3000, 4000]) expect(await readFrameIndex((await shot('media/v.mp4', t)).body)).toBe(frameAt(t));
    expect(await holders(videoPath)).toEqual([owner]);
    // A second file is opened once and found open after; the first stays open where it was.
    expect(openMs(await shot('media/slow.mp4', 0))).toBeGreaterThan(0);
    await shot('media/slow.mp4', 40);
    expect(await holders(slowPath)).toHaveLength(1);
    expect(await readFrameIndex((await shot('media/v.mp4', 5000)).body)).toBe(frameAt(5000));
    expect(await holders(videoPath)).toEqual([owner]);
    expect(await metricValue(node.url, 'stillframe_worker_jobs_total', { kind: 'capture' })).toBe(7);
  });
});
