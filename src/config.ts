// All settings in one frozen object, from CLI flags ?? environment ?? defaults, validated at boot with
// messages that name the setting. Every setting here is listed in the README's configuration table.
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

export interface Config {
  port: number;
  host: string;
  storage: { kind: 'file'; root: string };
  /** Virtual-hosted style: `bucket.<domain>` in Host selects the bucket. */
  domain: string | undefined;
  cache: { imageBytes: number; probeEntries: number };
  ffmpeg: {
    path: string | undefined;
    ffprobePath: string | undefined;
    timeoutMs: number;
    maxConcurrent: number;
    queueLength: number;
    queueTimeoutMs: number;
  };
  limits: {
    maxSourcePixels: number;
    maxSourceDurationSeconds: number;
    maxSourceBytes: number;
    maxOutputDimension: number;
    maxOutputBytes: number;
  };
  quality: { jpeg: number; webp: number; avif: number };
  http: { snapshotCacheControl: string; objectCacheControl: string };
  shutdownGraceMs: number;
  demoMedia: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export class ConfigError extends Error {}

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

function storage(raw: string, name: string): Config['storage'] {
  // file:///abs/dir, file://./rel/dir (relative to the working directory), or a bare path.
  const path = raw.startsWith('file://') ? raw.slice('file://'.length) : raw;
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || !path) {
    throw new ConfigError(`${name} must be file:///absolute/dir or file://./relative/dir, got "${raw}" (s3:// and http(s):// origins are not available yet)`);
  }
  return { kind: 'file', root: isAbsolute(path) ? path : resolve(path) };
}

const cores = availableParallelism();

export const SETTINGS = {
  port: { env: 'PORT', help: 'Port to listen on (0 = any free port).', flag: 'port', parse: integer(0, 65535), default: 8080 },
  host: { env: 'HOST', help: 'Address to bind. Loopback by default; 0.0.0.0 to accept remote clients (the Docker image does).', flag: 'host', parse: text, default: '127.0.0.1' },
  storage: { env: 'STILLFRAME_STORAGE', help: 'Object store: file:///abs/dir or file://./rel/dir; each sub-directory is a bucket.', shown: 'file://./data', flag: 'storage', parse: storage, default: storage('file://./data', '') },
  domain: { env: 'STILLFRAME_DOMAIN', help: 'Enables virtual-hosted URLs: Host bucket.<domain> selects the bucket.', shown: '(off)', flag: 'domain', parse: (raw: string) => raw.toLowerCase() as string | undefined, default: undefined },
  imageCacheBytes: { env: 'STILLFRAME_CACHE_BYTES', help: 'Bytes of finished images kept in the in-process LRU (accepts 256MB, 1GB).', shown: '256MB', parse: bytes, default: 256 * 1024 ** 2 },
  probeCacheEntries: { env: 'STILLFRAME_PROBE_CACHE_ENTRIES', help: 'Probe results kept (one per object version).', parse: integer(0), default: 10_000 },
  ffmpegPath: { env: 'STILLFRAME_FFMPEG', help: 'ffmpeg binary; overrides the resolution chain.', shown: '(chain)', parse: (raw: string) => raw as string | undefined, default: undefined },
  ffprobePath: { env: 'STILLFRAME_FFPROBE', help: 'ffprobe binary; overrides the resolution chain.', shown: '(chain)', parse: (raw: string) => raw as string | undefined, default: undefined },
  ffmpegTimeoutMs: { env: 'STILLFRAME_FFMPEG_TIMEOUT_MS', help: 'Deadline for one ffmpeg/ffprobe run; killed (SIGKILL) and answered 504 past it.', parse: integer(100), default: 30_000 },
  maxConcurrent: { env: 'STILLFRAME_MAX_FFMPEG', help: 'Captures (ffmpeg processes) running at once.', shown: 'CPU cores', parse: integer(1, 1024), default: cores },
  queueLength: { env: 'STILLFRAME_QUEUE_LENGTH', help: 'Captures allowed to wait for a slot; beyond it → 503 + Retry-After.', parse: integer(0), default: 64 },
  queueTimeoutMs: { env: 'STILLFRAME_QUEUE_TIMEOUT_MS', help: 'Longest wait for a slot before 503 + Retry-After.', parse: integer(1), default: 10_000 },
  maxSourcePixels: { env: 'STILLFRAME_MAX_SOURCE_PIXELS', help: 'Largest frame (width×height) decoded; larger sources → 400 before decoding.', shown: '7680×4320', parse: integer(1), default: 7680 * 4320 },
  maxSourceDurationSeconds: { env: 'STILLFRAME_MAX_SOURCE_DURATION', help: 'Longest source accepted, in seconds.', shown: '43200 (12 h)', parse: integer(1), default: 12 * 3600 },
  maxSourceBytes: { env: 'STILLFRAME_MAX_SOURCE_BYTES', help: 'Largest source object accepted.', shown: '50GB', parse: bytes, default: 50 * 1024 ** 3 },
  maxOutputDimension: { env: 'STILLFRAME_MAX_OUTPUT_DIMENSION', help: 'Largest w or h accepted in a request.', parse: integer(1, 16384), default: 4096 },
  maxOutputBytes: { env: 'STILLFRAME_MAX_DECODED_BYTES', help: 'Bound on one ffmpeg run\'s output (decoded frame, probe data); beyond it the run is killed.', shown: 'one 8K RGB frame', parse: bytes, default: 7680 * 4320 * 3 + 1024 },
  jpegQuality: { env: 'STILLFRAME_JPEG_QUALITY', help: 'JPEG quality (1–100).', parse: integer(1, 100), default: 85 },
  webpQuality: { env: 'STILLFRAME_WEBP_QUALITY', help: 'WebP quality (1–100).', parse: integer(1, 100), default: 80 },
  avifQuality: { env: 'STILLFRAME_AVIF_QUALITY', help: 'AVIF quality (1–100).', parse: integer(1, 100), default: 55 },
  snapshotCacheControl: { env: 'STILLFRAME_CACHE_CONTROL', help: 'Cache-Control of snapshot images (drives browsers and CDNs).', parse: text, default: 'public, max-age=86400, stale-while-revalidate=3600' },
  objectCacheControl: { env: 'STILLFRAME_OBJECT_CACHE_CONTROL', help: 'Cache-Control of plain objects.', parse: text, default: 'public, max-age=3600' },
  shutdownGraceMs: { env: 'STILLFRAME_SHUTDOWN_GRACE_MS', help: 'On SIGTERM/SIGINT, how long in-flight requests may take before exit.', parse: integer(0), default: 25_000 },
  demoMedia: { env: 'STILLFRAME_DEMO', help: 'Generate sample media (bucket demo) on start when missing.', parse: boolean, default: true },
  logLevel: { env: 'STILLFRAME_LOG_LEVEL', help: 'debug, info, warn or error (JSON lines on stdout).', parse: oneOf(['debug', 'info', 'warn', 'error'] as const), default: 'info' as const },
} satisfies Record<string, Setting<unknown>>;

type Values = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['default'] };

/** `--port 9000` / `--port=9000` → { port: '9000' }. */
export function parseFlags(argv: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`Unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf('=');
    if (eq > 0) flags[arg.slice(2, eq)] = arg.slice(eq + 1);
    else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConfigError(`${arg} needs a value`);
      flags[arg.slice(2)] = value;
      i++;
    }
  }
  const known = new Set(Object.values(SETTINGS).map((s: Setting<unknown>) => s.flag).filter(Boolean));
  for (const name of Object.keys(flags)) if (!known.has(name)) throw new ConfigError(`Unknown option --${name} (see --help)`);
  return flags;
}

export function loadConfig(env: Env = process.env, flags: Record<string, string> = {}): Config {
  const v = {} as Record<string, unknown>;
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const fromFlag = setting.flag ? flags[setting.flag] : undefined;
    const raw = fromFlag ?? env[setting.env];
    v[name] = raw === undefined || raw === '' ? setting.default : setting.parse(raw, fromFlag !== undefined ? `--${setting.flag}` : setting.env);
  }
  const s = v as Values;
  return Object.freeze({
    port: s.port,
    host: s.host,
    storage: s.storage,
    domain: s.domain,
    cache: { imageBytes: s.imageCacheBytes, probeEntries: s.probeCacheEntries },
    ffmpeg: {
      path: s.ffmpegPath,
      ffprobePath: s.ffprobePath,
      timeoutMs: s.ffmpegTimeoutMs,
      maxConcurrent: s.maxConcurrent,
      queueLength: s.queueLength,
      queueTimeoutMs: s.queueTimeoutMs,
    },
    limits: {
      maxSourcePixels: s.maxSourcePixels,
      maxSourceDurationSeconds: s.maxSourceDurationSeconds,
      maxSourceBytes: s.maxSourceBytes,
      maxOutputDimension: s.maxOutputDimension,
      maxOutputBytes: s.maxOutputBytes,
    },
    quality: { jpeg: s.jpegQuality, webp: s.webpQuality, avif: s.avifQuality },
    http: { snapshotCacheControl: s.snapshotCacheControl, objectCacheControl: s.objectCacheControl },
    shutdownGraceMs: s.shutdownGraceMs,
    demoMedia: s.demoMedia,
    logLevel: s.logLevel,
  });
}
