// FFmpeg's error numbers, as words a client can act on.
import { FFmpegError } from 'node-av';

export function describeError(code: number): string {
  try {
    return FFmpegError.strerror(code);
  } catch {
    return `error ${code}`;
  }
}
