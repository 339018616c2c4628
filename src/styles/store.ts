// Image styles (OSS PutStyle/GetStyle/ListStyle/DeleteStyle): named `image/…` process strings kept per
// bucket, used as `?x-oss-process=style/<name>`. At most 50 per bucket, names `[A-Za-z0-9_.-]{1,63}`.
// Two implementations behind one port:
//  - embedded (the default): one JSON file per bucket under the state directory (`<state>/styles/<bucket>.json`),
//    rewritten whole (temp file + fsync + rename + directory fsync) so a crash leaves the old file or the
//    new one, never a torn one. The state directory is locked to this process (src/tasks/state-lock.ts),
//    so the file is only written here: it is read once per bucket and then served from memory.
//  - Redis (STILLFRAME_REDIS_URL): one hash per bucket, `<prefix>:styles:<bucket>`, name → JSON, so every
//    node of a fleet sees the same styles; the 50-style check and the write are one Lua script.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { validateBucket } from '../source/store.js';
import { validateStyleName } from '../process/image-process.js';

/** OSS's limit: styles per bucket. */
export const MAX_STYLES_PER_BUCKET = 50;

export interface Style {
  name: string;
  /** The process string, e.g. `image/resize,p_60`. */
  content: string;
  createTime: Date;
  lastModifyTime: Date;
}

export interface StyleStore {
  /**
   * Creates or replaces a style (a replacement keeps its CreateTime). Throws 400 for a bad name, and for
   * a new style when the bucket already has MAX_STYLES_PER_BUCKET. The content is stored as given: the
   * caller validates it.
   */
  put(bucket: string, name: string, content: string): Promise<Style>;
  get(bucket: string, name: string): Promise<Style | undefined>;
  /** Every style of the bucket, by name. */
  list(bucket: string): Promise<Style[]>;
  /** Resolves false when there was no such style. */
  delete(bucket: string, name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** How a style is stored (file entries and Redis hash values): ISO times. */
interface StoredStyle {
  content: string;
  createTime: string;
  lastModifyTime: string;
}

const fromStored = (name: string, s: StoredStyle): Style => ({
  name,
  content: s.content,
  createTime: new Date(s.createTime),
  lastModifyTime: new Date(s.lastModifyTime),
});

const byName = (a: Style, b: Style) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function checkNames(bucket: string, name?: string) {
  validateBucket(bucket);
  if (name !== undefined) validateStyleName(name);
}

// ---------------------------------------------------------------------------------------------------------
// Embedded: a JSON file per bucket.

interface StyleFile {
  version: 1;
  styles: ({ name: string } & StoredStyle)[];
}

export function createFileStyleStore(options: { dir: string }): StyleStore {
  const dir = join(options.dir, 'styles');
  const cache = new Map<string, Map<string, Style>>();
  // One operation at a time per bucket: a put's count check and its write see the same state.
  const queues = new Map<string, Promise<unknown>>();
  let dirReady: Promise<unknown> | undefined;

  const pathOf = (bucket: string) => join(dir, `${bucket}.json`);

  function serial<T>(bucket: string, work: () => Promise<T>): Promise<T> {
    const previous = queues.get(bucket) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    queues.set(bucket, settled);
    void settled.then(() => {
      if (queues.get(bucket) === settled) queues.delete(bucket);
    });
    return next;
  }

  async function load(bucket: string): Promise<Map<string, Style>> {
    let styles = cache.get(bucket);
    if (styles) return styles;
    styles = new Map();
    let text: string | undefined;
    try {
      text = await readFile(pathOf(bucket), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let parsed: StyleFile;
      try {
        parsed = JSON.parse(text) as StyleFile;
        if (parsed.version !== 1 || !Array.isArray(parsed.styles)) throw new Error('not a version 1 style file');
      } catch (err) {
        // Never answered as "no styles": the file is the truth, and it is unreadable.
        throw errors.internal(new Error(`The style file ${pathOf(bucket)} is unreadable`, { cause: err }));
      }
      for (const { name, ...stored } of parsed.styles) styles.set(name, fromStored(name, stored));
    }
    // A concurrent reader may have loaded it meanwhile: keep the first (writes are serialised per bucket).
    const existing = cache.get(bucket);
    if (existing) return existing;
    cache.set(bucket, styles);
    return styles;
  }

  async function syncDir() {
    try {
      const handle = await open(dir, constants.O_RDONLY);
      await handle.sync().finally(() => handle.close());
    } catch {
      // Some file systems refuse fsync on directories; the rename is still atomic.
    }
  }

  /** Writes the bucket's whole set atomically, then (only then) makes it the cached state. */
  async function save(bucket: string, styles: Map<string, Style>) {
    dirReady ??= mkdir(dir, { recursive: true });
    await dirReady.catch((err: unknown) => {
      dirReady = undefined;
      throw err;
    });
    const path = pathOf(bucket);
    if (styles.size === 0) {
      await rm(path, { force: true });
    } else {
      const file: StyleFile = {
        version: 1,
        styles: [...styles.values()].sort(byName).map((s) => ({
          name: s.name,
          content: s.content,
          createTime: s.createTime.toISOString(),
          lastModifyTime: s.lastModifyTime.toISOString(),
        })),
      };
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const handle = await open(temp, 'w');
        try {
          await handle.writeFile(`${JSON.stringify(file, null, 1)}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, path);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    }
    await syncDir();
    cache.set(bucket, styles);
  }

  return {
    put(bucket, name, content) {
      checkNames(bucket, name);
      return serial(bucket, async () => {
        const current = await load(bucket);
        const old = current.get(name);
        if (!old && current.size >= MAX_STYLES_PER_BUCKET) throw errors.tooManyStyles(bucket, MAX_STYLES_PER_BUCKET);
        const now = new Date();
        const style: Style = { name, content, createTime: old?.createTime ?? now, lastModifyTime: now };
        const next = new Map(current);
        next.set(name, style);
        await save(bucket, next);
        return style;
      });
    },
    async get(bucket, name) {
      checkNames(bucket, name);
      return (await load(bucket)).get(name);
    },
    async list(bucket) {
      checkNames(bucket);
      return [...(await load(bucket)).values()].sort(byName);
    },
    delete(bucket, name) {
      checkNames(bucket, name);
      return serial(bucket, async () => {
        const current = await load(bucket);
        if (!current.has(name)) return false;
        const next = new Map(current);
        next.delete(name);
        await save(bucket, next);
        return true;
      });
    },
    async close() {
      await Promise.all([...queues.values()]);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Redis: a hash per bucket.

// KEYS[1] the bucket's hash; ARGV: name, content, now (ISO), max. Returns the CreateTime, or '' when the
// bucket is full and the style is new.
const PUT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
local created = ARGV[3]
if old then
  created = cjson.decode(old).createTime
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return ''
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({content = ARGV[2], createTime = created, lastModifyTime = ARGV[3]}))
return created`;

export function createRedisStyleStore(options: { url: string; prefix: string; log: Logger }): StyleStore {
  // Its own connection, opened on first use (as the nonce store's).
  const redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', (err: Error) => options.log.warn('redis error (style store)', { err: err.message }));
  const keyOf = (bucket: string) => `${options.prefix}:styles:${bucket}`;
  const parse = (name: string, value: string) => fromStored(name, JSON.parse(value) as StoredStyle);

  return {
    async put(bucket, name, content) {
      checkNames(bucket, name);
      const now = new Date();
      const created = (await redis.eval(PUT, 1, keyOf(bucket), name, content, now.toISOString(), String(MAX_STYLES_PER_BUCKET))) as string;
      if (!created) throw errors.tooManyStyles(bucket, MAX_STYLES_PER_BUCKET);
      return { name, content, createTime: new Date(created), lastModifyTime: now };
    },
    async get(bucket, name) {
      checkNames(bucket, name);
      const value = await redis.hget(keyOf(bucket), name);
      return value === null ? undefined : parse(name, value);
    },
    async list(bucket) {
      checkNames(bucket);
      const all = await redis.hgetall(keyOf(bucket));
      return Object.entries(all)
        .map(([name, value]) => parse(name, value))
        .sort(byName);
    },
    async delete(bucket, name) {
      checkNames(bucket, name);
      return (await redis.hdel(keyOf(bucket), name)) === 1;
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
