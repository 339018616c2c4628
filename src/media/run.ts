// Runs ffmpeg/ffprobe as child processes that can never outlive their request: killed (SIGKILL, the
// whole process) on timeout, on abort and when their output exceeds a bound.
import { spawn } from 'node:child_process';
import { errors } from '../errors.js';

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** stdout beyond this is a broken or hostile input: kill and fail. */
  maxStdoutBytes: number;
  /** Called once per spawn, for metrics and tests that count ffmpeg runs. */
  onSpawn?: (bin: string, args: readonly string[]) => void;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  durationMs: number;
}

export class ProcessFailedError extends Error {
  constructor(
    readonly bin: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${bin} exited with ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export class AbortedError extends Error {
  constructor() {
    super('aborted by client');
    this.name = 'AbortError';
  }
}

// Only the tail of stderr is kept: ffmpeg's last lines carry the error and showinfo's frame report.
const MAX_STDERR = 64 * 1024;

// ffmpeg gets a bare environment: nothing of ours (keys, tokens) leaks into it, and GCONV_PATH points
// nowhere because the static johnvansickle builds (the npm-installer fallback) link glibc statically and
// segfault when the MPEG-TS demuxer loads the host's iconv modules; without them it keeps raw strings.
export const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', GCONV_PATH: '/nonexistent' };

export function runProcess(bin: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new AbortedError());
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: CHILD_ENV });
    options.onSpawn?.(bin, args);
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: Error | undefined;

    const kill = (reason: Error) => {
      failure ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(errors.timeout(bin.split('/').pop() ?? 'ffmpeg', options.timeoutMs)), options.timeoutMs);
    const onAbort = () => kill(new AbortedError());
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > options.maxStdoutBytes) {
        kill(errors.limitExceeded(`Decoded output exceeds ${options.maxStdoutBytes} bytes.`));
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.length > MAX_STDERR) stderr = stderr.slice(-MAX_STDERR);
    });
    child.on('error', (err) => {
      failure ??= err;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new ProcessFailedError(bin, code, stderr));
      resolve({ stdout: Buffer.concat(chunks, stdoutBytes), stderr, durationMs: performance.now() - started });
    });
  });
}
