// The real ffmpeg, slowed to real time with -re and recording its pid: for tests of abort, timeout and
// draining, which need a capture that is still running when the test acts.
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffmpegPath } from './fixtures.js';

export interface SlowFfmpeg {
  path: string;
  pids(): Promise<number[]>;
}

export async function slowFfmpeg(): Promise<SlowFfmpeg> {
  const dir = await mkdtemp(join(tmpdir(), 'stillframe-slow-'));
  const pidFile = join(dir, 'pids');
  const path = join(dir, 'ffmpeg');
  // exec keeps the pid: the recorded pid is ffmpeg itself. The start-up `-version` check isn't recorded.
  await writeFile(
    path,
    `#!/bin/sh\ncase "$*" in *-version*) ;; *) echo $$ >> '${pidFile}' ;; esac\nexec '${ffmpegPath()}' -re "$@"\n`,
  );
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
