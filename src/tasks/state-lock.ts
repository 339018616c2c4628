// The lock that keeps two servers off one state directory (one journal, one writer). Acquisition is
// atomic, and so is taking over the lock of a process that died:
//  - The lock file is written whole to a temporary name, then hard-linked to `lock`: link() fails if
//    `lock` exists, so exactly one of any number of racing processes creates it, and nobody ever reads a
//    half-written lock.
//  - A lock names its owner: pid, the process's start time (Linux /proc, so a recycled pid is not taken
//    for the owner) and a random token that identifies this generation of the file.
//  - A lock whose owner is dead is removed by exactly one contender: the one that first creates the
//    marker `lock.takeover-<token>` (same link() rule). Holding it, it re-reads the lock and removes it
//    only if it is still that generation; nobody else can change that generation meanwhile (other
//    contenders need the marker, a live owner does not exist, new owners need `lock` absent). Then every
//    contender races for `lock` again by link(). A marker left by a contender that died is itself a lock
//    with a dead owner, broken the same way.
// Pids are per host (per pid namespace): this guards one machine's processes, not a directory shared
// by several hosts.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, rm, stat, unlink } from 'node:fs/promises';

export interface LockOwner {
  pid: number;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat field 22); absent off Linux and in legacy locks. */
  started?: string;
  /** Identifies this generation of the lock file. */
  token: string;
}

export type Claim = { state: 'ours' } | { state: 'held'; owner: LockOwner } | { state: 'retry' };

export interface LockEvents {
  /** A dead owner's lock (or takeover marker) was removed. */
  onStale?: (path: string, owner: LockOwner) => void;
}

/** Start time of a process, or undefined when /proc cannot tell (not Linux, or no such process). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const procAvailable = () => processStartTime(process.pid) !== undefined;

/** Is the owner of a lock still running? Same pid and start time; without a start time, a signal-0 probe. */
export function ownerAlive(owner: LockOwner): boolean {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  if (owner.started !== undefined && procAvailable()) return processStartTime(owner.pid) === owner.started;
  // A legacy lock with our own pid is a previous incarnation's (a container restarted with pid 1).
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function newOwner(): LockOwner {
  const started = processStartTime(process.pid);
  return { pid: process.pid, ...(started !== undefined && { started }), token: randomUUID() };
}

/** Creates `path` holding `content` only if it does not exist; false when it does. Never half-written. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
}

/** The owner a lock file names; undefined when it is gone. Unreadable content is a dead owner of its own generation. */
export async function readOwner(path: string): Promise<LockOwner | undefined> {
  let text: string;
  let ino: number;
  try {
    [text, ino] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.ino)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const trimmed = text.trim();
  // Written by earlier versions: the pid alone. Its generation is the file itself (inode).
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed), token: `legacy-${trimmed}-${ino}` };
  try {
    const parsed = JSON.parse(trimmed) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string' && /^[\w-]{1,64}$/.test(parsed.token)) {
      return { pid: parsed.pid, token: parsed.token, ...(typeof parsed.started === 'string' && { started: parsed.started }) };
    }
  } catch {
    // fall through
  }
  return { pid: 0, token: `unreadable-${ino}` };
}

/**
 * One attempt to make `path` ours: created (ours), held by a live owner (held), or changed under us —
 * gone, or a dead owner's generation removed — so the caller tries again (retry).
 */
export async function tryClaim(path: string, mine: LockOwner, events: LockEvents = {}, depth = 0): Promise<Claim> {
  if (await createExclusive(path, `${JSON.stringify(mine)}\n`)) return { state: 'ours' };
  const owner = await readOwner(path);
  if (!owner) return { state: 'retry' };
  if (owner.token === mine.token) return { state: 'ours' };
  if (ownerAlive(owner)) return { state: 'held', owner };
  // A dead owner: exactly one contender removes this generation, under its takeover marker.
  if (depth >= 3) return { state: 'retry' };
  const marker = `${path}.takeover-${owner.token}`;
  const claim = await tryClaim(marker, mine, events, depth + 1);
  if (claim.state !== 'ours') return { state: 'retry' };
  try {
    const again = await readOwner(path);
    if (again?.token === owner.token) {
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      events.onStale?.(path, owner);
    }
  } finally {
    await rm(marker, { force: true });
  }
  return { state: 'retry' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Acquires `path` for this process or throws `inUse(owner)`; contention with other takers is retried briefly. */
export async function acquireLock(path: string, inUse: (owner: LockOwner) => Error, events: LockEvents = {}): Promise<LockOwner> {
  const mine = newOwner();
  for (let round = 0; round < 200; round++) {
    const claim = await tryClaim(path, mine, events);
    if (claim.state === 'ours') return mine;
    if (claim.state === 'held') throw inUse(claim.owner);
    // Another contender is taking over a dead owner's lock: give it a moment.
    if (round > 0) await sleep(Math.min(50, 2 * round));
  }
  throw new Error(`Could not acquire ${path}: it keeps changing (a takeover marker ${path}.takeover-* left behind?).`);
}

/** Removes the lock if it is still ours (a lock taken over from us is someone else's now). */
export async function releaseLock(path: string, mine: LockOwner): Promise<void> {
  const owner = await readOwner(path);
  if (owner?.token === mine.token) await rm(path, { force: true });
}
