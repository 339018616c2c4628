// The one place ffmpeg and ffprobe are started: binaries, deadline, output bound and spawn accounting.
import { AppError, errors } from '../errors.js';
import type { Binaries } from './binaries.js';
import { AbortedError, ProcessFailedError, runProcess, type RunResult } from './run.js';

export interface FfmpegRunnerOptions {
  binaries: Binaries;
  timeoutMs: number;
  /** Decoder threads for one capture. */
  decodeThreads: number;
  /** Bound on one run's stdout (decoded frames, probe JSON). */
  maxOutputBytes: number;
  onRun?: (tool: 'ffmpeg' | 'ffprobe', durationMs: number, ok: boolean) => void;
  onSpawn?: (tool: 'ffmpeg' | 'ffprobe', args: readonly string[]) => void;
}

export interface FfmpegRunner {
  readonly binaries: Binaries;
  readonly decodeThreads: number;
  ffmpeg(args: readonly string[], signal?: AbortSignal): Promise<RunResult>;
  ffprobe(args: readonly string[], signal?: AbortSignal): Promise<RunResult>;
  /** Maps a failed run to what the client should see: bad media → 400, our deadline → 504. */
  classify(err: unknown, what: string): unknown;
}

export function createFfmpegRunner(options: FfmpegRunnerOptions): FfmpegRunner {
  const run = async (tool: 'ffmpeg' | 'ffprobe', args: readonly string[], signal?: AbortSignal) => {
    const started = performance.now();
    try {
      const result = await runProcess(options.binaries[tool].path, args, {
        timeoutMs: options.timeoutMs,
        maxStdoutBytes: options.maxOutputBytes,
        signal,
        onSpawn: (_bin, spawnedArgs) => options.onSpawn?.(tool, spawnedArgs),
      });
      options.onRun?.(tool, result.durationMs, true);
      return result;
    } catch (err) {
      options.onRun?.(tool, performance.now() - started, false);
      throw err;
    }
  };
  return {
    binaries: options.binaries,
    decodeThreads: options.decodeThreads,
    ffmpeg: (args, signal) => run('ffmpeg', ['-nostdin', ...args], signal),
    ffprobe: (args, signal) => run('ffprobe', args, signal),
    classify(err, what) {
      if (err instanceof AppError || err instanceof AbortedError) return err;
      if (err instanceof ProcessFailedError) {
        // The arguments are ours and tested; the bytes are the user's. So a failing run (even a crash by
        // signal) is the input's fault: the same bytes will fail again, and a 5xx would invite retries.
        const detail = err.stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${err.exitCode}`;
        return errors.notMedia(`${what}: ${detail.replace(/^\S+: /, '').slice(0, 200)}`, err);
      }
      return errors.internal(err);
    },
  };
}
