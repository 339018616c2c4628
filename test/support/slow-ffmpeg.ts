// The real ffmpeg, reading at real-time speed from the file start and recording its pid: for tests of abort, timeout and
// draining, which need a capture that is still running when the test acts.
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinaries } from '../../src/media/binaries.js';

export interface SlowFfmpeg {
  path: string;
  pids(): Promise<number[]>;
}

export async function slowFfmpeg(): Promise<SlowFfmpeg> {
  const dir = await mkdtemp(join(tmpdir(), 'stillframe-slow-'));
  const pidFile = join(dir, 'pids');
  const path = join(dir, 'ffmpeg');
  // exec keeps the pid: the recorded pid is ffmpeg itself. The start-up `-version` check isn't recorded.
  // Dropping `-ss` makes ffmpeg read from the start, and -re paces that reading at real time; the
  // filter chain still picks the same frame, just seconds later.
  const script = [
    '#!/bin/sh',
    `case "$*" in *-version*) ;; *) echo $$ >> '${pidFile}' ;; esac`,
    'skip=0',
    'for a do shift; if [ "$skip" = 1 ]; then skip=0; continue; fi; if [ "$a" = "-ss" ]; then skip=1; continue; fi; set -- "$@" "$a"; done',
    `exec '${resolveBinaries({ ffmpeg: process.env.STILLFRAME_FFMPEG, ffprobe: process.env.STILLFRAME_FFPROBE }).ffmpeg.path}' -re "$@"`,
    '',
  ];
  await writeFile(path, script.join('\n'));
  await chmod(path, 0o755);
  return {
    path,
    async pids() {
      try {
        return (await readFile(pidFile, 'utf8')).split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
  };
}

/** Alive and not a zombie. */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
