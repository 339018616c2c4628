// The task journal (src/tasks/journal.ts): replay of its lines, a torn last line, retention, compaction,
// and the state-directory lock held by another live process.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { Journal } from '../../../src/tasks/journal.js';
import type { TaskRecord } from '../../../src/tasks/records.js';

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
