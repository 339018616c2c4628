// All settings in one frozen object, from CLI flags ?? environment ?? defaults, validated at boot with
// messages that name the setting. docs/configuration.md lists every setting, generated from SETTINGS
// (`npm run docs:config`).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export interface Config {
  port: number;
  host: string;
  storage: StorageLocation;
  /** Where IMM task outputs go when the main storage is read-only; undefined = the main storage. */
  outputStorage: StorageLocation | undefined;
  /** S3-compatible storage (storage or outputStorage s3://). */
  s3: {
    /** Undefined = AWS; set = path-style requests to this endpoint (MinIO, R2, OSS's S3 API). */
    endpoint: string | undefined;
    region: string;
    /** Undefined = the AWS SDK's default credential chain (instance role, ~/.aws). */
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  };
  /** Remote reads (S3, HTTP origin): timeouts and the block cache the engine reads through. */
  origin: { timeoutMs: number; blockSize: number; blockCacheBytes: number };
  /** PUT /{bucket}/{key}: off unless enabled; bodies up to maxBytes. */
  put: { enabled: boolean; maxBytes: number };
  /** Virtual-hosted style: `bucket.<domain>` in Host selects the bucket. */
  domain: string | undefined;
  /** sourceRevalidateMs: how long snapshot requests trust a source's stat (src/source/stat-cache.ts). */
  cache: { imageBytes: number; sourceRevalidateMs: number };
  /** The capture workers (src/media/pool.ts): processes, their limits, and the queue in front of them. */
  engine: {
    workers: number;
    /** Decoder threads per capture. */
    threads: number;
    /** Deadline of one snapshot's decode. */
    timeoutMs: number;
    maxMemoryBytes: number;
    openSources: number;
    tonemap: ToneMap;
    queueLength: number;
    queueTimeoutMs: number;
  };
  limits: {
    maxSourcePixels: number;
    maxSourceDurationSeconds: number;
    maxSourceBytes: number;
    maxOutputDimension: number;
    /** Image processing (`image/…`): a stored image's (or image watermark's) bytes, decoded pixels, output pixels. */
    maxImageBytes: number;
    maxImagePixels: number;
    maxImageOutputPixels: number;
  };
  quality: { jpeg: number; webp: number; avif: number };
  http: {
    snapshotCacheControl: string;
    objectCacheControl: string;
    /** Largest request body other than an object PUT (IMM forms and JSON, stray bodies); larger → 413. */
    maxBodyBytes: number;
    /** Base of the URLs the server hands out (a storyboard's sheets), `{bucket}` in it or not; undefined = the request's. */
    publicUrl: string | undefined;
  };
  /** Bearer token for /_/metrics and health details; undefined = both open. */
  opsToken: string | undefined;
  shutdownGraceMs: number;
  demoMedia: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The IMM task API (asynchronous frame capture). */
  tasks: {
    /** Journal of projects and tasks, and the image styles without Redis; `<storage root>/.stillframe` unless set. */
    stateDir: string;
    concurrency: number;
    maxFramesPerTask: number;
    retentionDays: number;
    /** Deadline of one decoding job of a task (index, extraction). */
    timeoutMs: number;
  };
  webhooks: {
    /** Notification topic name → URL the IMM message is POSTed to. */
    topics: Record<string, string>;
    secret: string | undefined;
    retries: number;
    backoffMs: number;
    timeoutMs: number;
  };
  /** RPC AccessKeyId → AccessKeySecret; empty = RPC requests are not signed. */
  accessKeys: Record<string, string>;
  /** Per-bucket ACL and per-key bucket restrictions (src/http/access.ts); only used when keys exist. */
  access: { bucketAcl: Record<string, 'private' | 'public-read'>; keyBuckets: Record<string, string[]> };
  /** Scale-out: with a Redis URL, task records and the task queue (BullMQ) live in Redis. */
  scale: {
    redisUrl: string | undefined;
    /** api = accept and answer tasks, run none; worker = run tasks; all = both. */
    role: 'all' | 'api' | 'worker';
    /** BullMQ job lock: a node silent this long (crash, SIGKILL) has its task taken over. */
    lockMs: number;
    /** Prefix of every Redis key (several deployments on one Redis). */
    redisPrefix: string;
  };
}

/** A local directory (buckets are sub-directories), an S3-compatible service, or a read-only HTTP origin. */
export type StorageLocation =
  | { kind: 'file'; root: string }
  | { kind: 's3'; root?: undefined }
  | { kind: 'http'; url: string; root?: undefined };

export class ConfigError extends Error {}

/** Tone-mapping curves for PQ/HLG sources (src/media/engine/convert.ts); 'off' leaves the signal as it is. */
export const TONE_MAPS = ['mobius', 'hable', 'reinhard', 'clip', 'off'] as const;
export type ToneMap = (typeof TONE_MAPS)[number];

type Env = Record<string, string | undefined>;

export interface Setting<T> {
  env: string;
  flag?: string;
  help: string;
  /** The default as a person reads it, where the value itself is machine-specific or unreadable. */
  shown?: string;
  parse: (raw: string, name: string) => T;
  default: T;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string, name: string): number => {
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return Number(raw);
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "256MB", "1g", "1048576". */
function bytes(raw: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?b?)$/i.exec(raw.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(`${name} must be a byte size such as 268435456, 256MB or 1GB, got "${raw}"`);
  return Math.floor(Number(m[1]) * unit);
}

const text = (raw: string) => raw;

function inRange(value: number, min: number, max: number, name: string): number {
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max} bytes, got ${value}`);
  return value;
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string, name: string): T => {
    if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    return raw as T;
  };
}

function boolean(raw: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function storage(raw: string, name: string): StorageLocation {
  // s3:// (buckets and keys map 1:1 onto the service's), http(s)://origin/prefix (read-only), or
  // file:///abs/dir, file://./rel/dir (relative to the working directory), or a bare path.
  if (/^s3:/i.test(raw)) {
    if (!/^s3:\/\/\/?$/i.test(raw)) throw new ConfigError(`${name} must be just s3:// (buckets map 1:1 onto the service's buckets), got "${raw}"`);
    return { kind: 's3' };
  }
  if (/^https?:/i.test(raw)) return { kind: 'http', url: httpUrl(raw, name, 'https://origin.example.com/prefix') };
  const path = raw.startsWith('file://') ? raw.slice('file://'.length) : raw;
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || !path) {
    throw new ConfigError(`${name} must be file:///absolute/dir, file://./relative/dir, s3:// or https://origin/prefix, got "${raw}"`);
  }
  return { kind: 'file', root: isAbsolute(path) ? path : resolve(path) };
}

/** An http(s) base URL that may hold `{bucket}` (checked with a bucket name in its place). */
function publicUrl(raw: string, name: string): string {
  httpUrl(raw.replaceAll('{bucket}', 'bucket'), name, 'https://cdn.example.com or https://{bucket}.cdn.example.com');
  return raw.replace(/\/+$/, '');
}

/** An http(s) URL without query or fragment, trailing slashes dropped. */
function httpUrl(raw: string, name: string, example: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || !url.hostname || url.search || url.hash) {
    throw new ConfigError(`${name} must be an http(s) URL such as ${example} (no query string), got "${raw}"`);
  }
  return url.href.replace(/\/+$/, '');
}

function writableStorage(raw: string, name: string): StorageLocation | undefined {
  const location = storage(raw, name);
  if (location.kind === 'http') throw new ConfigError(`${name} must be file:///dir or s3:// (HTTP origins are read-only), got "${raw}"`);
  return location;
}

function redisUrl(raw: string, name: string): string {
  if (!/^rediss?:\/\/[^/\s]/.test(raw)) throw new ConfigError(`${name}: expected redis://host:port[/db] or rediss://…, got "${raw}"`);
  return raw;
}

function secretToken(raw: string, name: string): string {
  if (raw.length < 16 || /\s/.test(raw)) throw new ConfigError(`${name} must be at least 16 characters without spaces`);
  return raw;
}

/** "topic=https://hook.example/x,other=http://127.0.0.1:9000/" → { topic: url, … }. */
function webhookMap(raw: string, name: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const topic = entry.slice(0, eq).trim();
    const url = entry.slice(eq + 1).trim();
    if (eq <= 0 || !/^https?:\/\/[^\s]+$/.test(url)) {
      throw new ConfigError(`${name} must be a comma-separated list of topic=http(s)://url, got "${entry}"`);
    }
    map[topic] = url;
  }
  return map;
}

/** "id:secret,id2:secret2" → { id: secret, … }. */
function accessKeyMap(raw: string, name: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) throw new ConfigError(`${name} must be a comma-separated list of AccessKeyId:AccessKeySecret`);
    map[entry.slice(0, colon)] = entry.slice(colon + 1);
  }
  return map;
}

/** "demo:public-read,media:private" → { demo: 'public-read', media: 'private' }. */
function bucketAclMap(raw: string, name: string): Record<string, 'private' | 'public-read'> {
  const map: Record<string, 'private' | 'public-read'> = {};
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([a-z0-9][a-z0-9-]{1,61}[a-z0-9]):(private|public-read)$/.exec(entry);
    if (!m) throw new ConfigError(`${name} must be a comma-separated list of bucket:private or bucket:public-read, got "${entry}"`);
    map[m[1]!] = m[2] as 'private' | 'public-read';
  }
  return map;
}

/** "id1:demo|media,id2:*" → { id1: ['demo', 'media'], id2: ['*'] }. */
function keyBucketsMap(raw: string, name: string): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const buckets = entry.slice(colon + 1).split('|').map((b) => b.trim()).filter(Boolean);
    if (colon <= 0 || !buckets.length) throw new ConfigError(`${name} must be a comma-separated list of AccessKeyId:bucket|bucket (or AccessKeyId:*), got "${entry}"`);
    map[entry.slice(0, colon)] = buckets;
  }
  return map;
}

/** A file of AccessKeyId:AccessKeySecret lines (# comments), merged with STILLFRAME_ACCESS_KEYS. */
function accessKeysFile(raw: string, name: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(raw, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${raw}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return accessKeyMap(lines.join(','), name);
}

const cores = availableParallelism();

export const SETTINGS = {
  port: { env: 'PORT', help: 'Port to listen on (0 = any free port).', flag: 'port', parse: integer(0, 65535), default: 8080 },
  host: { env: 'HOST', help: 'Address to bind. Loopback by default; 0.0.0.0 to accept remote clients (the Docker image does).', flag: 'host', parse: text, default: '127.0.0.1' },
  storage: { env: 'STILLFRAME_STORAGE', help: 'Object store: file:///abs/dir or file://./rel/dir (each sub-directory is a bucket), s3:// (S3-compatible, buckets map 1:1) or https://origin/prefix (read-only; /bucket/key → prefix/bucket/key).', shown: 'file://./data', flag: 'storage', parse: storage, default: storage('file://./data', '') as StorageLocation },
  outputStorage: { env: 'STILLFRAME_OUTPUT_STORAGE', help: 'Where IMM task outputs are written instead of STILLFRAME_STORAGE: file:///dir or s3://. Needed when STILLFRAME_STORAGE is a read-only HTTP origin; the URL API serves only STILLFRAME_STORAGE.', shown: '(the main storage)', parse: writableStorage, default: undefined as StorageLocation | undefined },
  s3Endpoint: { env: 'STILLFRAME_S3_ENDPOINT', help: 'S3-compatible endpoint such as http://127.0.0.1:9000 (MinIO, R2, OSS); path-style requests. Unset = AWS.', shown: '(AWS)', parse: (raw: string, name: string) => httpUrl(raw, name, 'http://127.0.0.1:9000') as string | undefined, default: undefined },
  awsRegion: { env: 'AWS_REGION', help: 'Region of the S3 service (signing scope).', parse: text, default: 'us-east-1' },
  awsAccessKeyId: { env: 'AWS_ACCESS_KEY_ID', help: 'S3 access key; unset = the AWS SDK default credential chain.', shown: '(SDK chain)', parse: (raw: string) => raw as string | undefined, default: undefined },
  awsSecretAccessKey: { env: 'AWS_SECRET_ACCESS_KEY', help: 'S3 secret key (never logged).', shown: '(SDK chain)', parse: (raw: string) => raw as string | undefined, default: undefined },
  awsSessionToken: { env: 'AWS_SESSION_TOKEN', help: 'S3 session token for temporary credentials.', shown: '(none)', parse: (raw: string) => raw as string | undefined, default: undefined },
  originTimeoutMs: { env: 'STILLFRAME_ORIGIN_TIMEOUT_MS', help: 'Deadline for an S3/HTTP origin to connect, answer, and between body bytes; past it → 504.', parse: integer(100), default: 10_000 },
  blockSize: { env: 'STILLFRAME_BLOCK_SIZE', help: 'Unit of ranged reads from S3/HTTP origins for the engine (64KB–8MB).', shown: '256KB', parse: (raw: string, name: string) => inRange(bytes(raw, name), 64 * 1024, 8 * 1024 ** 2, name), default: 256 * 1024 },
  blockCacheBytes: { env: 'STILLFRAME_BLOCK_CACHE_BYTES', help: 'Bytes of origin blocks kept in memory (LRU), keyed by object ETag: indexes and headers are read once.', shown: '256MB', parse: bytes, default: 256 * 1024 ** 2 },
  allowPut: { env: 'STILLFRAME_ALLOW_PUT', help: 'Accept PUT /{bucket}/{key} uploads (with access keys: OSS-signed by a key allowed the bucket; without: trusted networks only).', parse: boolean, default: false },
  maxPutBytes: { env: 'STILLFRAME_MAX_PUT_BYTES', help: 'Largest PUT body accepted.', shown: '5GB', parse: bytes, default: 5 * 1024 ** 3 },
  domain: { env: 'STILLFRAME_DOMAIN', help: 'Enables virtual-hosted URLs: Host bucket.<domain> selects the bucket.', shown: '(off)', flag: 'domain', parse: (raw: string) => raw.toLowerCase() as string | undefined, default: undefined },
  imageCacheBytes: { env: 'STILLFRAME_CACHE_BYTES', help: 'Bytes of finished images kept in the in-process LRU (accepts 256MB, 1GB).', shown: '256MB', parse: bytes, default: 256 * 1024 ** 2 },
  sourceRevalidateMs: { env: 'STILLFRAME_SOURCE_REVALIDATE_MS', help: 'How long snapshot requests trust a source object\'s ETag before asking the store again; an object rewritten by another writer shows its new ETag within this interval (writes through this server at once). 0 = ask on every request.', parse: integer(0, 60_000), default: 1000 },
  workers: { env: 'STILLFRAME_WORKERS', help: 'Capture worker processes (each decodes one image or task job at a time): how many decodes run at once.', shown: 'CPU cores', parse: integer(1, 256), default: cores },
  decodeThreads: { env: 'STILLFRAME_DECODE_THREADS', help: 'Decoder threads per capture; 0 = one per CPU core.', parse: integer(0, 64), default: 0 },
  decodeTimeoutMs: { env: 'STILLFRAME_DECODE_TIMEOUT_MS', help: 'Deadline for one snapshot decode; past it the worker is killed (and replaced) and the request answered 504.', parse: integer(100), default: 30_000 },
  workerMaxMemory: { env: 'STILLFRAME_WORKER_MAX_MEMORY', help: 'Resident memory a capture worker may use: above it mid-job the worker is killed and the request answered 400; above 3/4 of it after a job the worker is replaced.', shown: '1GB', parse: bytes, default: 1024 ** 3 },
  workerOpenSources: { env: 'STILLFRAME_WORKER_OPEN_SOURCES', help: 'Media objects each capture worker keeps open (demuxer + decoder), so repeated frames of a hot file skip open and probe; the least recently used close while a worker holds more than half of STILLFRAME_WORKER_MAX_MEMORY.', parse: integer(1, 1024), default: 16 },
  tonemap: { env: 'STILLFRAME_TONEMAP', help: 'Tone-mapping curve for HDR (PQ, HLG) sources to SDR, with reference white at 203 cd/m²: mobius, hable, reinhard, clip, or off (the signal as it is).', parse: oneOf(TONE_MAPS), default: 'mobius' as ToneMap },
  queueLength: { env: 'STILLFRAME_QUEUE_LENGTH', help: 'Captures allowed to wait for a worker; beyond it → 503 + Retry-After.', parse: integer(0), default: 64 },
  queueTimeoutMs: { env: 'STILLFRAME_QUEUE_TIMEOUT_MS', help: 'Longest wait for a worker before 503 + Retry-After.', parse: integer(1), default: 10_000 },
  maxSourcePixels: { env: 'STILLFRAME_MAX_SOURCE_PIXELS', help: 'Largest frame (width×height) decoded; larger sources → 400 before decoding.', shown: '7680×4320', parse: integer(1), default: 7680 * 4320 },
  maxSourceDurationSeconds: { env: 'STILLFRAME_MAX_SOURCE_DURATION', help: 'Longest source accepted, in seconds.', shown: '43200 (12 h)', parse: integer(1), default: 12 * 3600 },
  maxSourceBytes: { env: 'STILLFRAME_MAX_SOURCE_BYTES', help: 'Largest source object accepted.', shown: '50GB', parse: bytes, default: 50 * 1024 ** 3 },
  maxOutputDimension: { env: 'STILLFRAME_MAX_OUTPUT_DIMENSION', help: 'Largest w or h accepted in a request.', parse: integer(1, 16384), default: 4096 },
  maxImageBytes: { env: 'STILLFRAME_MAX_IMAGE_BYTES', help: 'Largest stored image processed by `image/…` (and largest image watermark); OSS allows 20 MB.', shown: '50MB', parse: bytes, default: 50 * 1024 ** 2 },
  maxImagePixels: { env: 'STILLFRAME_MAX_IMAGE_PIXELS', help: 'Largest image decoded by `image/…`, width×height×frames (OSS: 250 Mpx; a side is at most 30,000 px whatever this says).', shown: '250000000', parse: integer(1), default: 250_000_000 },
  maxImageOutputPixels: { env: 'STILLFRAME_MAX_IMAGE_OUTPUT_PIXELS', help: 'Largest image `image/…` produces, width×height (OSS: 16,777,216; a side is at most 16,384 px).', shown: '16777216', parse: integer(1), default: 16_777_216 },
  jpegQuality: { env: 'STILLFRAME_JPEG_QUALITY', help: 'JPEG quality (1–100).', parse: integer(1, 100), default: 85 },
  webpQuality: { env: 'STILLFRAME_WEBP_QUALITY', help: 'WebP quality (1–100).', parse: integer(1, 100), default: 80 },
  avifQuality: { env: 'STILLFRAME_AVIF_QUALITY', help: 'AVIF quality (1–100).', parse: integer(1, 100), default: 55 },
  snapshotCacheControl: { env: 'STILLFRAME_CACHE_CONTROL', help: 'Cache-Control of snapshot images (drives browsers and CDNs).', parse: text, default: 'public, max-age=86400, stale-while-revalidate=3600' },
  objectCacheControl: { env: 'STILLFRAME_OBJECT_CACHE_CONTROL', help: 'Cache-Control of plain objects.', parse: text, default: 'public, max-age=3600' },
  publicUrl: { env: 'STILLFRAME_PUBLIC_URL', help: "Base URL clients reach this server at (a CDN, a proxy's public name): storyboards list their sheet URLs as <base>/<bucket>/<key>, or <base>/<key> when the base holds {bucket} (https://{bucket}.cdn.example.com). Unset = the request's scheme (X-Forwarded-Proto) and Host.", shown: "(the request's)", parse: publicUrl, default: undefined as string | undefined },
  maxBodyBytes: { env: 'STILLFRAME_MAX_BODY_BYTES', help: 'Largest request body other than a PUT upload (IMM requests); counted as it streams in, larger → 413 before any parsing or signature check.', shown: '1MB', parse: (raw: string, name: string) => inRange(bytes(raw, name), 1024, 1024 ** 3, name), default: 1024 ** 2 },
  opsToken: { env: 'STILLFRAME_OPS_TOKEN', help: 'When set, /_/metrics needs Authorization: Bearer <token>, and /_/health shows only its status without it.', shown: '(open)', parse: (raw: string, name: string) => secretToken(raw, name) as string | undefined, default: undefined },
  shutdownGraceMs: { env: 'STILLFRAME_SHUTDOWN_GRACE_MS', help: 'On SIGTERM/SIGINT, how long in-flight requests may take before exit.', parse: integer(0), default: 25_000 },
  demoMedia: { env: 'STILLFRAME_DEMO', help: 'On start, generate the sample media when missing (demo/sample.mp4 and test-bucket/video-demo/: local directory storage only) and create the IMM project test-project.', parse: boolean, default: true },
  stateDir: { env: 'STILLFRAME_STATE_DIR', help: 'Directory of the task journal (projects, tasks, progress) and of the image styles (without Redis); survives restarts.', shown: '<storage root>/.stillframe (./.stillframe with s3:// or http(s):// storage)', parse: (raw: string) => resolve(raw) as string | undefined, default: undefined },
  taskConcurrency: { env: 'STILLFRAME_TASK_CONCURRENCY', help: 'IMM tasks run at once (each runs one decoding job at a time, in the limiter\'s batch lane).', parse: integer(1, 256), default: 2 },
  maxFramesPerTask: { env: 'STILLFRAME_MAX_FRAMES_PER_TASK', help: 'Most frames one task may capture (dhash: sample) in total; more → LimitExceededError.', parse: integer(1, 1_000_000), default: 2000 },
  taskRetentionDays: { env: 'STILLFRAME_TASK_RETENTION_DAYS', help: 'Days a finished task stays queryable (GetTask/ListTasks).', parse: integer(1, 3650), default: 7 },
  taskTimeoutMs: { env: 'STILLFRAME_TASK_DECODE_TIMEOUT_MS', help: 'Deadline for one decoding job of a task (indexing a source, or extracting its frames).', parse: integer(1000), default: 600_000 },
  webhooks: { env: 'STILLFRAME_WEBHOOKS', help: 'Notification topics → webhook URLs: topic=http(s)://url,… (MNS/RocketMQ TopicName).', shown: '(none)', parse: webhookMap, default: {} as Record<string, string> },
  webhookSecret: { env: 'STILLFRAME_WEBHOOK_SECRET', help: 'HMAC-SHA256 key for the X-Stillframe-Signature header of webhook POSTs.', shown: '(unsigned)', parse: (raw: string) => raw as string | undefined, default: undefined },
  webhookRetries: { env: 'STILLFRAME_WEBHOOK_RETRIES', help: 'Retries of a failed webhook delivery (network errors, timeouts, 5xx, 408, 429; other answers are final).', parse: integer(0, 100), default: 5 },
  webhookBackoffMs: { env: 'STILLFRAME_WEBHOOK_BACKOFF_MS', help: 'First retry delay of a webhook delivery; doubles on each retry (at most 5 minutes), with equal jitter (each wait between half and all of it); Retry-After on 429/503 wins.', parse: integer(1), default: 1000 },
  webhookTimeoutMs: { env: 'STILLFRAME_WEBHOOK_TIMEOUT_MS', help: 'Deadline for one webhook POST.', parse: integer(1), default: 10_000 },
  accessKeys: { env: 'STILLFRAME_ACCESS_KEYS', help: 'AccessKeyId:AccessKeySecret,… : when set, IMM RPC requests must carry a valid signature and private buckets need OSS-signed requests.', shown: '(unsigned)', parse: accessKeyMap, default: {} as Record<string, string> },
  accessKeysFile: { env: 'STILLFRAME_ACCESS_KEYS_FILE', help: 'File of AccessKeyId:AccessKeySecret lines (# comments), added to STILLFRAME_ACCESS_KEYS.', shown: '(none)', parse: accessKeysFile, default: {} as Record<string, string> },
  bucketAcl: { env: 'STILLFRAME_BUCKET_ACL', help: 'bucket:public-read|private,… ; with access keys, unlisted buckets are private (signed requests only).', shown: '(all private with keys, open without)', parse: bucketAclMap, default: {} as Record<string, 'private' | 'public-read'> },
  keyBuckets: { env: 'STILLFRAME_KEY_BUCKETS', help: 'AccessKeyId:bucket|bucket,… : the buckets a key may read and write (incl. IMM task sources/outputs); unlisted keys, or *, = all buckets.', shown: '(every key: all buckets)', parse: keyBucketsMap, default: {} as Record<string, string[]> },
  redisUrl: { env: 'STILLFRAME_REDIS_URL', help: 'Scale-out: redis://host:6379/0 — task records and a BullMQ task queue in Redis, shared by every node. Unset = the embedded journal.', shown: '(embedded)', parse: (raw: string, name: string) => redisUrl(raw, name) as string | undefined, default: undefined },
  role: { env: 'STILLFRAME_ROLE', help: 'With STILLFRAME_REDIS_URL: api (accept/answer tasks, run none), worker (run queued tasks) or all.', parse: oneOf(['all', 'api', 'worker'] as const), default: 'all' as const },
  redisLockMs: { env: 'STILLFRAME_REDIS_LOCK_MS', help: 'With STILLFRAME_REDIS_URL: task lock; a worker silent this long (crash, SIGKILL) has its task rerun by another node.', parse: integer(1000, 3_600_000), default: 30_000 },
  redisPrefix: { env: 'STILLFRAME_REDIS_PREFIX', help: 'With STILLFRAME_REDIS_URL: prefix of every key (several deployments on one Redis).', parse: text, default: 'stillframe' },
  logLevel: { env: 'STILLFRAME_LOG_LEVEL', help: 'debug, info, warn or error (JSON lines on stdout).', parse: oneOf(['debug', 'info', 'warn', 'error'] as const), default: 'info' as const },
} satisfies Record<string, Setting<unknown>>;

function s3Credentials(accessKeyId: string | undefined, secretAccessKey: string | undefined, sessionToken: string | undefined): Config['s3']['credentials'] {
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (!accessKeyId || !secretAccessKey) throw new ConfigError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

function roleOf(role: Config['scale']['role'], redisUrl: string | undefined): Config['scale']['role'] {
  if (role !== 'all' && !redisUrl) throw new ConfigError(`STILLFRAME_ROLE=${role} needs STILLFRAME_REDIS_URL: the embedded journal is one process's`);
  return role;
}

/** STILLFRAME_KEY_BUCKETS may only restrict keys that exist (a typo would otherwise grant nothing silently). */
function knownKeys(keyBuckets: Record<string, string[]>, keys: Record<string, string>): Record<string, string[]> {
  for (const id of Object.keys(keyBuckets)) {
    if (!Object.hasOwn(keys, id)) throw new ConfigError(`STILLFRAME_KEY_BUCKETS names "${id}", which is not in STILLFRAME_ACCESS_KEYS`);
  }
  return keyBuckets;
}

type Values = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['default'] };

/** Settings of earlier versions that no longer do anything, with what replaced them (warned at start-up). */
const RETIRED: Record<string, string> = {
  STILLFRAME_FFMPEG: 'the engine is built in (node-av); no ffmpeg binary is used',
  STILLFRAME_FFPROBE: 'the engine is built in (node-av); no ffprobe binary is used',
  STILLFRAME_MAX_FFMPEG: 'use STILLFRAME_WORKERS',
  STILLFRAME_FFMPEG_THREADS: 'use STILLFRAME_DECODE_THREADS',
  STILLFRAME_FFMPEG_TIMEOUT_MS: 'use STILLFRAME_DECODE_TIMEOUT_MS',
  STILLFRAME_TASK_FFMPEG_TIMEOUT_MS: 'use STILLFRAME_TASK_DECODE_TIMEOUT_MS',
  STILLFRAME_MAX_DECODED_BYTES: 'decoded frames are scaled to the output size inside the engine; STILLFRAME_WORKER_MAX_MEMORY bounds a worker',
  STILLFRAME_PROBE_CACHE_ENTRIES: 'use STILLFRAME_WORKER_OPEN_SOURCES',
  STILLFRAME_TASK_STRATEGY: 'tasks decide per gap between wanted frames whether to decode on or seek',
};

/** One warning per retired setting present in `env`. */
export function retiredSettings(env: Env): string[] {
  return Object.entries(RETIRED)
    .filter(([name]) => env[name] !== undefined && env[name] !== '')
    .map(([name, instead]) => `${name} is no longer used: ${instead}`);
}

/** `flags` are keyed by the settings' `flag` (src/cli/serve.ts parses the command line into them). */
export function loadConfig(env: Env = process.env, flags: Record<string, string> = {}): Config {
  const v = {} as Record<string, unknown>;
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const fromFlag = setting.flag ? flags[setting.flag] : undefined;
    const raw = fromFlag ?? env[setting.env];
    v[name] = raw === undefined || raw === '' ? setting.default : setting.parse(raw, fromFlag !== undefined ? `--${setting.flag}` : setting.env);
  }
  const s = v as Values;
  const accessKeys = { ...s.accessKeysFile, ...s.accessKeys };
  return Object.freeze({
    port: s.port,
    host: s.host,
    storage: s.storage,
    outputStorage: s.outputStorage,
    s3: {
      endpoint: s.s3Endpoint,
      region: s.awsRegion,
      credentials: s3Credentials(s.awsAccessKeyId, s.awsSecretAccessKey, s.awsSessionToken),
    },
    origin: { timeoutMs: s.originTimeoutMs, blockSize: s.blockSize, blockCacheBytes: s.blockCacheBytes },
    put: { enabled: s.allowPut, maxBytes: s.maxPutBytes },
    domain: s.domain,
    cache: { imageBytes: s.imageCacheBytes, sourceRevalidateMs: s.sourceRevalidateMs },
    engine: {
      workers: s.workers,
      // One decoder thread per core: measured on 2 cores, 0.87× the wall time of FFmpeg's own default
      // (cores + 1 threads) and 0.70× that of a single thread for a mid-GOP 720p frame.
      threads: s.decodeThreads || cores,
      timeoutMs: s.decodeTimeoutMs,
      maxMemoryBytes: s.workerMaxMemory,
      openSources: s.workerOpenSources,
      tonemap: s.tonemap,
      queueLength: s.queueLength,
      queueTimeoutMs: s.queueTimeoutMs,
    },
    limits: {
      maxSourcePixels: s.maxSourcePixels,
      maxSourceDurationSeconds: s.maxSourceDurationSeconds,
      maxSourceBytes: s.maxSourceBytes,
      maxOutputDimension: s.maxOutputDimension,
      maxImageBytes: s.maxImageBytes,
      maxImagePixels: s.maxImagePixels,
      maxImageOutputPixels: s.maxImageOutputPixels,
    },
    quality: { jpeg: s.jpegQuality, webp: s.webpQuality, avif: s.avifQuality },
    http: { snapshotCacheControl: s.snapshotCacheControl, objectCacheControl: s.objectCacheControl, maxBodyBytes: s.maxBodyBytes, publicUrl: s.publicUrl },
    opsToken: s.opsToken,
    shutdownGraceMs: s.shutdownGraceMs,
    demoMedia: s.demoMedia,
    logLevel: s.logLevel,
    tasks: {
      stateDir: s.stateDir ?? join(s.storage.root ?? resolve('.'), '.stillframe'),
      concurrency: s.taskConcurrency,
      maxFramesPerTask: s.maxFramesPerTask,
      retentionDays: s.taskRetentionDays,
      timeoutMs: s.taskTimeoutMs,
    },
    webhooks: {
      topics: s.webhooks,
      secret: s.webhookSecret,
      retries: s.webhookRetries,
      backoffMs: s.webhookBackoffMs,
      timeoutMs: s.webhookTimeoutMs,
    },
    accessKeys,
    access: { bucketAcl: s.bucketAcl, keyBuckets: knownKeys(s.keyBuckets, accessKeys) },
    scale: { redisUrl: s.redisUrl, role: roleOf(s.role, s.redisUrl), lockMs: s.redisLockMs, redisPrefix: s.redisPrefix },
  });
}
