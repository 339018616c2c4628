// The server's side of the read bridge (src/media/engine/bridge.ts): a capture worker asks for bytes of
// a source of the job it runs, and gets them from the block cache over the storage adapter. A worker can
// only read the sources of its current job. An origin failure (404, 403, timeout …) is remembered on
// the job, so the job is answered with the origin's status rather than "not media"; an aborted job's
// reads fail at once, so the worker stops early. HLS segments are pinned to the version first read.
import type { Duplex } from 'node:stream';
import { AppError, errors } from '../errors.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import type { BlockCache, ObjectVersion } from './block-cache.js';
import { looksLikePlaylist } from './hls-playlist.js';
import { READ_ABORTED, READ_FAILED } from './protocol.js';

/** What a source id of a job reads: one object version, or an HLS playlist's segments. */
export type ReadTarget =
  | { kind: 'object'; version: ObjectVersion }
  | { kind: 'hls'; bucket: string; init: string | undefined; segments: readonly string[] };

/** The reads of one job: its sources, and what happened to them. */
export class JobReads {
  /** The first origin failure of the job's reads: the job's answer, whatever the worker says. */
  failure: AppError | undefined;
  aborted = false;
  private readonly pinned = new Map<string, Promise<ObjectStat>>();

  constructor(readonly targets: ReadonlyMap<string, ReadTarget>) {}

  /** The version of an HLS segment, stat'ed once per job. */
  pin(store: ObjectStore, bucket: string, key: string): Promise<ObjectStat> {
    let stat = this.pinned.get(key);
    if (!stat) {
      stat = store.stat(bucket, key);
      this.pinned.set(key, stat);
    }
    return stat;
  }
}

export interface ReadRequest {
  id: string;
  segment: number;
  position: number;
  length: number;
}

async function answer(store: ObjectStore, blocks: BlockCache, reads: JobReads, request: ReadRequest): Promise<Buffer | number> {
  if (reads.aborted) return READ_ABORTED;
  const target = reads.targets.get(request.id);
  if (!target) return READ_FAILED;
  let version: ObjectVersion;
  if (target.kind === 'object') {
    version = target.version;
  } else {
    const key = request.segment === -1 ? target.init : target.segments[request.segment];
    if (key === undefined) return READ_FAILED;
    const stat = await reads.pin(store, target.bucket, key);
    version = { bucket: target.bucket, key, etag: stat.etag, size: stat.size };
  }
  if (request.position >= version.size || request.length <= 0) return Buffer.alloc(0);
  const end = Math.min(version.size, request.position + request.length) - 1;
  const bytes = await blocks.read(version, request.position, end);
  if (target.kind === 'hls' && request.position === 0 && looksLikePlaylist(bytes)) {
    // A "segment" that is itself a playlist would name further objects: only variants may.
    throw errors.invalidArgument(`The HLS segment "${version.key}" is a playlist, not media; playlists may name other playlists only as variants.`);
  }
  return bytes;
}

/** Parses request frames from a worker's end of the bridge and answers them, one at a time. */
export function serveReads(socket: Duplex, store: ObjectStore, blocks: BlockCache, current: () => JobReads | undefined): void {
  let pending: Buffer = Buffer.alloc(0);
  let busy = false;
  const next = () => {
    if (busy) return;
    if (pending.length < 4) return;
    const idLength = pending.readUInt32LE(0);
    const size = 4 + idLength + 4 + 8 + 4;
    if (pending.length < size) return;
    const request: ReadRequest = {
      id: pending.toString('utf8', 4, 4 + idLength),
      segment: pending.readInt32LE(4 + idLength),
      position: pending.readDoubleLE(8 + idLength),
      length: pending.readUInt32LE(16 + idLength),
    };
    pending = pending.subarray(size);
    busy = true;
    const reads = current();
    const answered = reads ? answer(store, blocks, reads, request) : Promise.resolve(READ_FAILED);
    // Not awaited: the next request is read when this one is answered; answer()'s failures end in the catch.
    void answered
      .catch((err: unknown) => {
        const failure = err instanceof AppError ? err : errors.originFailed('The origin could not be read.', err);
        if (reads) reads.failure ??= failure;
        return READ_FAILED;
      })
      .then((result) => {
        const head = Buffer.alloc(4);
        if (typeof result === 'number') {
          head.writeInt32LE(result);
          socket.write(head);
        } else {
          head.writeInt32LE(result.length);
          socket.write(head);
          if (result.length) socket.write(result);
        }
        busy = false;
        next();
      });
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    next();
  });
  // A worker that dies mid-read closes its end; the pool handles the exit.
  socket.on('error', () => {});
}
