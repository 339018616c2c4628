// Synchronous reads of remote bytes, for FFmpeg's custom I/O inside a capture worker. FFmpeg calls the
// read callback in the middle of a synchronous demux/decode call and needs the bytes before it returns,
// so the worker cannot wait for a promise: it writes a request frame on a socket pair shared with the
// server (fd 3) and blocks in read(2) until the answer frame arrives. The server answers from its block
// cache over the storage adapter (src/media/reads.ts), so one cache serves every worker, credentials
// and origin clients live in the server only, and an origin failure is known where the request is
// answered. A server that never answers is covered by the job deadline (the worker is killed).
import { readSync, writeSync } from 'node:fs';
import { BRIDGE_MAX_READ } from '../protocol.js';

const BRIDGE_FD = 3;

function readFully(target: Buffer, length: number): void {
  let got = 0;
  while (got < length) {
    const n = readSync(BRIDGE_FD, target, got, length - got, null);
    if (n === 0) throw new Error('the server closed the read bridge');
    got += n;
  }
}

const head = Buffer.alloc(4);
let answer = Buffer.allocUnsafe(BRIDGE_MAX_READ);

/**
 * Reads up to `length` bytes at `position` of source `id` (segment `segment` for HLS; -1 = its init
 * section). Returns the bytes (empty at the end), or a negative AVERROR the server chose.
 */
export function bridgeRead(id: string, segment: number, position: number, length: number): Buffer | number {
  const idBytes = Buffer.from(id, 'utf8');
  const request = Buffer.allocUnsafe(4 + idBytes.length + 4 + 8 + 4);
  let at = request.writeUInt32LE(idBytes.length, 0);
  at += idBytes.copy(request, at);
  at = request.writeInt32LE(segment, at);
  at = request.writeDoubleLE(position, at);
  request.writeUInt32LE(Math.min(length, BRIDGE_MAX_READ), at);
  writeSync(BRIDGE_FD, request);
  readFully(head, 4);
  const status = head.readInt32LE(0);
  if (status <= 0) return status === 0 ? Buffer.alloc(0) : status;
  if (answer.length < status) answer = Buffer.allocUnsafe(status);
  readFully(answer, status);
  // FFmpeg copies the bytes out before the next read: the buffer can be reused.
  return answer.subarray(0, status);
}
