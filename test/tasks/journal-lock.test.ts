// The state-directory lock under contention, with real processes (plain JS on dist/): N processes opening
// the same journal at the same instant — exactly one wins, the others are told who holds it; a lock whose
// owner is dead (exited, SIGKILLed, or a recycled pid) is taken over, by exactly one of N racing
// processes; a takeover marker left by a contender that died does not block anyone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { Journal } from '../../src/tasks/journal.js';
import { acquireLock, newOwner, ownerAlive, processStartTime, readOwner } from '../../src/tasks/state-lock.js';
import type { Json } from '../support/json.js';

const CHILD = resolve(import.meta.dirname, '../support/lock-child.mjs');
const CONTENDERS = 4;
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stillframe-lock-'));
  dirs.push(dir);
  return dir;
}

interface Outcome {
  won: boolean;
  /** It was waiting before the instant (so the race was real). */
  early: boolean;
  pid: number;
  message?: string;
  child: ChildProcess;
  stderr: () => string;
}

/** Starts `n` processes, waits until each has loaded, then lets them open the journal in `dir` at one instant. */
async function race(dir: string, n: number): Promise<Outcome[]> {
  const runs = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const answers = (check: (line: Json) => boolean) =>
      new Promise<Json>((resolveAnswer, reject) => {
        const look = () => {
          const line = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json).find(check);
          if (line) resolveAnswer(line);
        };
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          look();
        });
        look();
        child.on('exit', (code) => reject(new Error(`lock child exited ${code}:\n${out}\n${err}`)));
      });
    return { child, ready: answers((l) => l.ready === true), outcome: answers((l) => 'won' in l), stderr: () => err };
  });
  await Promise.all(runs.map((r) => r.ready));
  // Far enough ahead that every contender reads it before the instant, even on a loaded machine.
  const startAt = String(Date.now() + 2000);
  for (const r of runs) r.child.stdin!.write(`${startAt}\n`);
  const outcomes = await Promise.all(runs.map(async (r) => ({ ...((await r.outcome) as Omit<Outcome, 'child' | 'stderr'>), child: r.child, stderr: r.stderr })));
  expect(outcomes.map((o) => o.early), 'every process was waiting before the instant').toEqual(outcomes.map(() => true));
  return outcomes;
}

/** Ends a winner (stdin closed → it closes the journal and exits). */
function release(outcome: Outcome): Promise<void> {
  return new Promise((done) => {
    outcome.child.once('exit', () => done());
    outcome.child.stdin!.end();
  });
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

function expectOneWinner(outcomes: Outcome[]): Outcome {
  const winners = outcomes.filter((o) => o.won);
  expect(winners, JSON.stringify(outcomes.map(({ won, pid, message }) => ({ won, pid, message })))).toHaveLength(1);
  const winner = winners[0]!;
  for (const loser of outcomes.filter((o) => !o.won)) {
    expect(loser.message).toBe(`The state directory ${loser.message!.split(' ')[3]} is in use by process ${winner.pid}: set STILLFRAME_STATE_DIR to another directory.`);
  }
  return winner;
}

describe('state directory lock', () => {
  it(`${CONTENDERS} processes opening one journal at the same instant: exactly one wins, three times over`, async () => {
    const dir = await stateDir();
    for (let round = 0; round < 3; round++) {
      const winner = expectOneWinner(await race(dir, CONTENDERS));
      expect(await readOwner(join(dir, 'lock'))).toMatchObject({ pid: winner.pid, started: processStartTime(winner.pid) });
      await release(winner);
      // The winner released it: nothing left behind.
      expect((await readdir(dir)).filter((f) => f.startsWith('lock'))).toEqual([]);
    }
  });

  it('a SIGKILLed owner\'s lock is taken over by exactly one of the processes racing for it', async () => {
    const dir = await stateDir();
    const [first] = await race(dir, 1);
    expect(first!.won).toBe(true);
    first!.child.kill('SIGKILL');
    await new Promise((r) => first!.child.once('exit', r));
    expect((await readOwner(join(dir, 'lock')))?.pid).toBe(first!.pid);

    const outcomes = await race(dir, CONTENDERS);
    const winner = expectOneWinner(outcomes);
    // Exactly one contender removed the dead owner's lock (not necessarily the one that then won the race for it).
    const removals = outcomes.flatMap((o) => o.stderr().split('\n').filter((l) => l.includes('removed the lock of a process that is gone')));
    expect(removals).toHaveLength(1);
    expect(removals[0]).toContain(`"pid":${first!.pid}`);
    // Every marker is gone once the takeover is over.
    expect((await readdir(dir)).filter((f) => f.startsWith('lock'))).toEqual(['lock']);
    await release(winner);
  });

  it('takes over a lock left by an exited process, a legacy pid-only lock, a recycled pid, and a dead contender\'s takeover marker', async () => {
    const dir = await stateDir();
    const lock = join(dir, 'lock');
    const open = () => Journal.open({ dir, retentionMs: 86_400_000, log: silentLogger });

    await writeFile(lock, `${JSON.stringify({ pid: await deadPid(), started: '1', token: 'dead-owner' })}\n`);
    const a = await open();
    expect((await readOwner(lock))?.pid).toBe(process.pid);
    await a.close();

    await writeFile(lock, `${await deadPid()}\n`);
    const b = await open();
    await b.close();

    // A live pid with another start time is another process than the one that wrote the lock.
    await writeFile(lock, `${JSON.stringify({ pid: process.ppid, started: 'not-its-start-time', token: 'recycled' })}\n`);
    const c = await open();
    await c.close();

    // A contender died while it held the takeover marker of a dead owner's lock.
    await writeFile(lock, `${JSON.stringify({ pid: await deadPid(), token: 'stale-gen' })}\n`);
    await writeFile(join(dir, 'lock.takeover-stale-gen'), `${JSON.stringify({ pid: await deadPid(), token: 'dead-breaker' })}\n`);
    const d = await open();
    expect((await readdir(dir)).filter((f) => f.startsWith('lock'))).toEqual(['lock']);
    await d.close();
    expect((await readdir(dir)).filter((f) => f.startsWith('lock'))).toEqual([]);
  });

  it('50 concurrent acquisitions interleaved on the file system: one holder; over a dead owner\'s lock, one removal', async () => {
    const dir = await stateDir();
    const lock = join(dir, 'lock');
    const attempt = async (removed: string[]) => {
      try {
        return await acquireLock(lock, (owner) => new Error(`held by ${owner.token}`), { onStale: (path) => removed.push(path) });
      } catch (err) {
        return (err as Error).message;
      }
    };
    for (const stale of [false, true]) {
      await rm(lock, { force: true });
      if (stale) await writeFile(lock, `${JSON.stringify({ pid: await deadPid(), token: 'gone' })}\n`);
      const removed: string[] = [];
      const results = await Promise.all(Array.from({ length: 50 }, () => attempt(removed)));
      const holders = results.filter((r) => typeof r !== 'string');
      expect(holders).toHaveLength(1);
      expect(results.filter((r) => r === `held by ${holders[0]!.token}`)).toHaveLength(49);
      expect(await readOwner(lock)).toEqual(holders[0]);
      expect(removed).toEqual(stale ? [lock] : []);
      expect((await readdir(dir)).sort()).toEqual(['lock']);
    }
  });

  it('a live owner keeps it: in this process, in another one, and under a legacy pid-only lock', async () => {
    const dir = await stateDir();
    const open = () => Journal.open({ dir, retentionMs: 86_400_000, log: silentLogger });
    const held = await open();
    await expect(open()).rejects.toThrow(`is in use by process ${process.pid}`);
    await held.close();
    await writeFile(join(dir, 'lock'), `${process.ppid}\n`);
    await expect(open()).rejects.toThrow(`is in use by process ${process.ppid}`);
    expect(ownerAlive({ pid: process.ppid, token: 'x' })).toBe(true);
    expect(ownerAlive(newOwner())).toBe(true);
    expect(ownerAlive({ ...newOwner(), started: 'other' })).toBe(false);
    expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(`${process.ppid}\n`);
  });
});
