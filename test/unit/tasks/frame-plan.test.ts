// Unit tests of the task machinery: the limiter's batch lane (fair share), dhash selection, frame
// planning, the journal (torn last line, retention, lock) and the RPC signature.
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLimiter } from '../../../src/core/limiter.js';
import { rpcSignature, stringToSign } from '../../../src/http/imm-auth.js';
import { silentLogger } from '../../../src/log.js';
import { indexOf } from '../../../src/media/engine/extract.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';
import { DhashSelector, hammingDistance } from '../../../src/tasks/dhash.js';
import { clipOf, frameAtOrBefore, keyframeOf, keyframesIn, sampleTimes } from '../../../src/tasks/frame-plan.js';
import { Journal } from '../../../src/tasks/journal.js';
import type { TaskRecord } from '../../../src/tasks/records.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('limiter fair share', () => {
  it('batch work holds at most concurrency - 1 slots and never delays an interactive request', async () => {
    const limiter = createLimiter({ concurrency: 3, queueLength: 10, queueTimeoutMs: 1000 });
    const gates = Array.from({ length: 5 }, deferred);
    const batch = gates.map((g) => limiter.run(() => g.promise, undefined, 'batch'));
    await tick();
    expect([limiter.active, limiter.batchActive, limiter.batchQueued]).toEqual([2, 2, 3]);
    // A slot stays free for the URL API: an interactive capture starts at once.
    let ran = false;
    await limiter.run(async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    gates.forEach((g) => g.resolve());
    await Promise.all(batch);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('gives a freed slot to a waiting interactive request before queued batch work', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 10, queueTimeoutMs: 1000 });
    const first = deferred();
    const order: string[] = [];
    const running = limiter.run(() => first.promise, undefined, 'batch');
    await tick();
    const queuedBatch = limiter.run(async () => void order.push('batch'), undefined, 'batch');
    const interactive = limiter.run(async () => void order.push('interactive'));
    await tick();
    first.resolve();
    await Promise.all([running, queuedBatch, interactive]);
    expect(order).toEqual(['interactive', 'batch']);
  });

  it('batch waiters have no deadline but can be aborted', async () => {
    const limiter = createLimiter({ concurrency: 1, queueLength: 0, queueTimeoutMs: 10 });
    const gate = deferred();
    const running = limiter.run(() => gate.promise, undefined, 'batch');
    const controller = new AbortController();
    const waiting = limiter.run(async () => 'late', undefined, 'batch');
    const aborted = limiter.run(async () => 'never', controller.signal, 'batch');
    await new Promise((r) => setTimeout(r, 30));
    controller.abort();
    await expect(aborted).rejects.toThrow('aborted');
    gate.resolve();
    await running;
    expect(await waiting).toBe('late');
  });
});

describe('dhash selection', () => {
  it('Threshold keeps frames whose change to the last kept frame is large enough', () => {
    const s = new DhashSelector(15, 0);
    const hashes = [0n, 1n, 0xffn, 0xfffn, 0xffffffffn];
    const kept = hashes.map((h, i) => s.add(i, h).candidate);
    // 0: first (100) · 1: 1 bit (1.6) · 0xff: 8 bits (12.5) · 0xfff: 12 bits (18.75) · 0xffffffff: 20 bits from 0xfff.
    expect(kept).toEqual([true, false, false, true, true]);
    expect(s.finish()).toEqual([0, 3, 4]);
    expect(s.streaming).toBe(true);
  });

  it('Number keeps the N largest changes (to the previous sample), in time order, ties to the earlier', () => {
    const s = new DhashSelector(undefined, 3);
    for (const [i, h] of [0n, 0n, 0xffffn, 0xffffn, 0xffn, 0xffn].entries()) s.add(i, h);
    // changes: 100, 0, 25, 0, 12.5, 0
    expect(s.finish()).toEqual([0, 2, 4]);
  });

  it('Threshold and Number together: the N largest among the frames over the threshold', () => {
    const s = new DhashSelector(10, 1);
    for (const [i, h] of [0n, 0xffffn, 0xffn].entries()) s.add(i, h);
    expect(s.finish()).toEqual([0]);
    expect(hammingDistance(0xf0n, 0x0fn)).toBe(8);
  });
});

describe('frame planning', () => {
  const spec = (snapshot: Record<string, unknown>, source: Record<string, unknown> = {}) =>
    parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4', ...source }], Targets: [{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...snapshot }] } }] }, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date());
  const plan = (snapshot: Record<string, unknown>, source: Record<string, unknown> = {}, end = 10) => {
    const request = spec(snapshot, source);
    return sampleTimes(request.snapshots[0]!, clipOf(request.sources[0]!, end));
  };

  it('interval, average, dhash sample times within the clip', () => {
    expect(plan({ Interval: 3 })).toEqual([0, 3, 6, 9]);
    expect(plan({ Interval: 3, Number: 2, StartTime: 1 })).toEqual([1, 4]);
    expect(plan({ Mode: 'average', Number: 4 })).toEqual([0, 2.5, 5, 7.5]);
    expect(plan({ Mode: 'dhash', Number: 2, Interval: 4 })).toEqual([0, 4, 8]);
    expect(plan({ Interval: 1 }, { StartTime: 2, Duration: 3 })).toEqual([2, 3, 4]);
    // No drift over many steps.
    expect(plan({ Interval: 0.1 }).length).toBe(100);
  });

  it('refuses a start at or past the end', () => {
    expect(() => plan({ StartTime: 10, Number: 1 })).toThrow('Targets[0].Image.Snapshots[0].StartTime 10 s is at or past the end of the video (10.000 s).');
    expect(() => plan({ Number: 1 }, { StartTime: 12 })).toThrow('Sources[0].StartTime 12 s is at or past the end of the video (10.000 s).');
  });

  it('keyframes in the clip and the frame shown at a time', () => {
    // Packets in decoding order (B-frames: presented out of order), a duplicate, and a frame before the
    // first keyframe (it cannot be decoded from it): the index is in presentation order, from the keyframe.
    const packets = [
      { pts: -0.04, key: false },
      { pts: 0, key: true },
      { pts: 0.08, key: false },
      { pts: 0.04, key: false },
      { pts: 0.12, key: true },
      { pts: 0.12, key: false },
      { pts: 0.16, key: false },
    ];
    const index = indexOf(packets, 1e-6);
    expect(index.pts).toEqual([0, 0.04, 0.08, 0.12, 0.16]);
    expect(index.key).toEqual([true, false, false, true, false]);
    expect([0, 0.039, 0.04, 0.119, 1].map((t) => frameAtOrBefore(index, t))).toEqual([0, 0, 1, 2, 4]);
    expect([0, 2, 3, 4].map((i) => keyframeOf(index, i))).toEqual([0, 0, 3, 3]);
    const request = spec({ Mode: 'keyframe' });
    expect(keyframesIn(index, 0, request.snapshots[0]!, { start: 0, end: 0.2 })).toEqual([0, 3]);
    expect(keyframesIn(index, 0, request.snapshots[0]!, { start: 0.05, end: 0.2 })).toEqual([3]);
  });
});

describe('task journal', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const task = (id: string, patch: Partial<TaskRecord> = {}): TaskRecord => ({
    ProjectName: 'p', TaskId: id, TaskType: 'MediaConvert', EventId: 'e', Status: 'Running', Code: '', Message: '',
    CreateTime: new Date().toISOString(), Progress: 0, Tags: {}, Definition: {}, Outputs: [], Notified: false, Attempts: 0, ...patch,
  });

  it('replays its lines, ignores a torn last line, drops expired tasks and compacts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-journal-'));
    dirs.push(dir);
    const open = () => Journal.open({ dir, retentionMs: 7 * 86_400_000, log: silentLogger });
    const a = await open();
    await a.putProject({ ProjectName: 'p', Tags: {}, CreateTime: 'x', UpdateTime: 'x' });
    await a.putTask(task('t1'));
    await a.putTask(task('old', { Status: 'Succeeded', EndTime: new Date(Date.now() - 8 * 86_400_000).toISOString() }));
    await a.addOutput('t1', { URI: 'oss://b/1.jpg', Index: 1, SourceIndex: 0, SnapshotIndex: 0, TimeMs: 0, Width: 1, Height: 1, Size: 1 });
    await a.addOutput('t1', { URI: 'oss://b/1.jpg', Index: 1, SourceIndex: 0, SnapshotIndex: 0, TimeMs: 0, Width: 2, Height: 2, Size: 2 });
    await a.patchTask('t1', { Progress: 50 }, true);
    await a.close();
    // A crash in the middle of an append.
    await appendFile(join(dir, 'journal.jsonl'), '{"op":"patch","id":"t1","patch":{"Prog');

    const b = await open();
    expect([...b.projects.keys()]).toEqual(['p']);
    expect([...b.tasks.keys()]).toEqual(['t1']);
    expect(b.tasks.get('t1')).toMatchObject({ Progress: 50, Outputs: [{ URI: 'oss://b/1.jpg', Width: 2 }] });
    await b.close();
    const compacted = (await readFile(join(dir, 'journal.jsonl'), 'utf8')).trim().split('\n');
    expect(compacted.map((l) => JSON.parse(l).op)).toEqual(['project', 'task']);
  });

  it('refuses a state directory another live process holds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stillframe-journal-'));
    dirs.push(dir);
    await writeFile(join(dir, 'lock'), `${process.ppid}\n`);
    await expect(Journal.open({ dir, retentionMs: 1, log: silentLogger })).rejects.toThrow(`is in use by process ${process.ppid}`);
  });
});

describe('RPC signature', () => {
  it('signs the sorted, RFC 3986-encoded parameters (Alibaba Cloud SignatureVersion 1.0)', () => {
    const params = { Action: 'ListProjects', Format: 'JSON', Version: '2020-09-30', Name: "a b*c~!'()" };
    expect(stringToSign('POST', params)).toBe(
      'POST&%2F&Action%3DListProjects%26Format%3DJSON%26Name%3Da%2520b%252Ac~%2521%2527%2528%2529%26Version%3D2020-09-30',
    );
    expect(rpcSignature('secret', 'POST', params)).toMatch(/^[A-Za-z0-9+/]{27}=$/);
  });
});
