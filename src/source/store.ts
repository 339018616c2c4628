// The one storage interface. Adapters (local directory, S3-compatible, read-only HTTP origin) implement it
// and every adapter passes test/storage/conformance.ts.
import type { Readable } from 'node:stream';
import { errors } from '../errors.js';

export interface ObjectStat {
  size: number;
  /** Strong validator, quoted as sent in the ETag header. */
  etag: string;
  lastModified: Date;
  contentType: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface ReadOptions {
  /**
   * Only this version (an ETag from stat): a changed object fails with PreconditionFailed (412) instead
   * of mixing bytes of two versions, e.g. in the block cache.
   */
  ifMatch?: string;
  signal?: AbortSignal;
}

export interface ObjectStore {
  /** Human-readable description for logs and health, without secrets. */
  readonly description: string;
  /** true for stores whose write() always refuses (a read-only HTTP origin). */
  readonly readOnly?: boolean;
  stat(bucket: string, key: string): Promise<ObjectStat>;
  read(bucket: string, key: string, range?: ByteRange, options?: ReadOptions): Promise<Readable>;
  /** Atomic: readers see the old object or the whole new one, never a part. */
  write(bucket: string, key: string, body: Buffer | Readable, contentType?: string): Promise<ObjectStat>;
  /**
   * The object's path on this machine, proven to be inside the store (the file store only): the engine
   * opens it directly instead of reading it through the block cache.
   */
  localPath?(bucket: string, key: string): Promise<string>;
}

// Bucket names as OSS allows them (3–63 of a-z, 0-9, '-'), which also keeps them safe as directory
// names; '_'-prefixed names can't occur, so `/_/` stays reserved for the server.
const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const MAX_KEY_BYTES = 1023;

export function validateBucket(bucket: string): void {
  if (!BUCKET.test(bucket)) throw errors.invalidBucketName(bucket);
}

/** Keys are opaque to OSS, but a key that could climb out of its bucket on a file system is refused. */
export function validateKey(key: string): void {
  if (!key) throw errors.invalidObjectName('The object key is empty.');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw errors.invalidObjectName(`The object key is longer than ${MAX_KEY_BYTES} bytes.`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in a key is the point
  if (/[\u0000-\u001f\\]/.test(key)) throw errors.invalidObjectName('The object key contains a control character or a backslash.');
  if (key.startsWith('/') || key.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')) {
    throw errors.invalidObjectName('The object key contains an empty, "." or ".." path segment.');
  }
}

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/quicktime', mkv: 'video/x-matroska', webm: 'video/webm',
  ts: 'video/mp2t', m2ts: 'video/mp2t', avi: 'video/x-msvideo', flv: 'video/x-flv', wmv: 'video/x-ms-wmv',
  rm: 'application/vnd.rn-realmedia', rmvb: 'application/vnd.rn-realmedia-vbr', vob: 'video/dvd', mpg: 'video/mpeg',
  m3u8: 'application/vnd.apple.mpegurl', mp3: 'audio/mpeg', m4a: 'audio/mp4', aac: 'audio/aac', flac: 'audio/flac',
  wav: 'audio/wav', ogg: 'audio/ogg', jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp',
  avif: 'image/avif', gif: 'image/gif', json: 'application/json', txt: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

export function contentTypeFor(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
