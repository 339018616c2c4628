// The embedded durable task state: an append-only JSON-lines journal under the state directory.
//  - A task is accepted only once its record is fsynced; state changes that matter (start, end,
//    notified) are fsynced too; progress and output lines are written but not waited for (a crash
//    loses at most some progress, and outputs are rewritten identically by the re-run).
//  - On open, the journal is replayed (a torn last line from a crash is ignored), records past their
//    retention are dropped, and the state is compacted into a fresh file (temp + fsync + rename).
//  - A lock file naming us keeps two servers from appending to one journal; it is created atomically and
//    a dead owner's lock is taken over race-free (src/tasks/state-lock.ts).
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { OutputRecord, ProjectRecord, TaskRecord } from './records.js';
import { acquireLock, releaseLock, type LockOwner } from './state-lock.js';

export type TaskPatch = Partial<Pick<TaskRecord, 'Status' | 'Code' | 'Message' | 'StartTime' | 'EndTime' | 'Progress' | 'Notified' | 'Attempts' | 'Outputs'>>;

type Entry =
  | { op: 'project'; project: ProjectRecord }
  | { op: 'project-delete'; name: string }
  | { op: 'task'; task: TaskRecord }
  | { op: 'task-delete'; id: string }
  | { op: 'patch'; id: string; patch: TaskPatch }
  | { op: 'output'; id: string; output: OutputRecord };

export interface JournalOptions {
  dir: string;
  retentionMs: number;
  log: Logger;
  /** Compact after this many appended lines (also done on every open). */
  compactEvery?: number;
}

const FILE = 'journal.jsonl';

export class Journal {
  readonly projects = new Map<string, ProjectRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  private handle: FileHandle | undefined;
  private pending: { line: string; durable: boolean; done: () => void; fail: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private appended = 0;
  private closed = false;
  private owner: LockOwner | undefined;

  private constructor(private readonly options: JournalOptions) {}

  static async open(options: JournalOptions): Promise<Journal> {
    const journal = new Journal(options);
    await mkdir(options.dir, { recursive: true });
    await journal.lock();
    await journal.replay();
    await journal.compactNow();
    return journal;
  }

  private get path() {
    return join(this.options.dir, FILE);
  }

  private get lockPath() {
    return join(this.options.dir, 'lock');
  }

  private async lock() {
    const { dir, log } = this.options;
    this.owner = await acquireLock(
      this.lockPath,
      (owner) => new Error(`The state directory ${dir} is in use by process ${owner.pid}: set STILLFRAME_STATE_DIR to another directory.`),
      { onStale: (path, owner) => log.warn('task journal: removed the lock of a process that is gone', { path, pid: owner.pid }) },
    );
  }

  private apply(entry: Entry) {
    switch (entry.op) {
      case 'project':
        this.projects.set(entry.project.ProjectName, entry.project);
        break;
      case 'project-delete':
        this.projects.delete(entry.name);
        break;
      case 'task':
        this.tasks.set(entry.task.TaskId, entry.task);
        break;
      case 'task-delete':
        this.tasks.delete(entry.id);
        break;
      case 'patch': {
        const task = this.tasks.get(entry.id);
        if (task) Object.assign(task, entry.patch);
        break;
      }
      case 'output': {
        const task = this.tasks.get(entry.id);
        if (!task) break;
        // A re-run after a crash writes the same names again: one record per object.
        const at = task.Outputs.findIndex((o) => o.URI === entry.output.URI);
        if (at >= 0) task.Outputs[at] = entry.output;
        else task.Outputs.push(entry.output);
        break;
      }
    }
  }

  private async replay() {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = text.split('\n');
    lines.forEach((line, n) => {
      if (!line.trim()) return;
      try {
        this.apply(JSON.parse(line) as Entry);
      } catch {
        // Only the last line can be torn (a crash mid-append); anything else is worth a warning.
        if (n < lines.length - 2) this.options.log.warn('task journal: skipped an unreadable line', { line: n + 1 });
      }
    });
  }

  private expired(task: TaskRecord, now: number): boolean {
    return task.Status !== 'Running' && !!task.EndTime && now - Date.parse(task.EndTime) > this.options.retentionMs;
  }

  /** Writes the live state to a new file and swaps it in atomically. */
  private async compactNow() {
    const now = Date.now();
    for (const [id, task] of this.tasks) if (this.expired(task, now)) this.tasks.delete(id);
    const lines: string[] = [];
    for (const project of this.projects.values()) lines.push(JSON.stringify({ op: 'project', project } satisfies Entry));
    for (const task of this.tasks.values()) lines.push(JSON.stringify({ op: 'task', task } satisfies Entry));
    const temp = `${this.path}.compact`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(lines.length ? `${lines.join('\n')}\n` : '');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.handle?.close();
    await rename(temp, this.path);
    // The rename itself must survive a power cut: sync the directory entry.
    try {
      const dir = await open(this.options.dir, constants.O_RDONLY);
      await dir.sync().finally(() => dir.close());
    } catch {
      // Some file systems refuse fsync on directories; the rename is still atomic.
    }
    this.handle = await open(this.path, 'a');
    this.appended = 0;
  }

  /** Appends an entry (applied in memory at once); `durable` waits until it is on disk. */
  private append(entry: Entry, durable: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.apply(entry);
    const line = `${JSON.stringify(entry)}\n`;
    const promise = new Promise<void>((done, fail) => this.pending.push({ line, durable, done, fail }));
    this.flushing ??= this.flush();
    return promise;
  }

  // Group commit: everything queued while a write+fsync runs goes out in the next single write+fsync.
  private async flush() {
    while (this.pending.length) {
      const batch = this.pending.splice(0);
      try {
        await this.handle!.write(batch.map((p) => p.line).join(''));
        if (batch.some((p) => p.durable)) await this.handle!.sync();
        this.appended += batch.length;
        for (const p of batch) p.done();
      } catch (err) {
        this.options.log.error('task journal: write failed', { err });
        for (const p of batch) p.fail(err);
      }
      if (this.appended >= (this.options.compactEvery ?? 10_000) && !this.closed) {
        try {
          await this.compactNow();
        } catch (err) {
          this.options.log.error('task journal: compaction failed', { err });
        }
      }
    }
    this.flushing = undefined;
  }

  putProject(project: ProjectRecord) {
    return this.append({ op: 'project', project }, true);
  }

  deleteProject(name: string) {
    return this.append({ op: 'project-delete', name }, true);
  }

  putTask(task: TaskRecord) {
    return this.append({ op: 'task', task: structuredClone(task) }, true);
  }

  deleteTask(id: string) {
    return this.append({ op: 'task-delete', id }, true);
  }

  patchTask(id: string, patch: TaskPatch, durable: boolean) {
    return this.append({ op: 'patch', id, patch }, durable);
  }

  addOutput(id: string, output: OutputRecord) {
    return this.append({ op: 'output', id, output }, false);
  }

  /** Drops expired task records (the journal shrinks at the next compaction). */
  async sweep() {
    const now = Date.now();
    for (const [id, task] of this.tasks) if (this.expired(task, now)) await this.deleteTask(id);
  }

  async close() {
    if (this.closed) return;
    await this.flushing;
    this.closed = true;
    await this.handle?.close();
    this.handle = undefined;
    if (this.owner) await releaseLock(this.lockPath, this.owner);
  }
}
