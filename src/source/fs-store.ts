// The embedded default: a local directory, one sub-directory per bucket. Paths are resolved with
// realpath and must stay inside the root, so neither a crafted key nor a symlink can leave it.
import { createHash, randomBytes } from 'node:crypto';
import { type BigIntStats, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors } from '../errors.js';
import { contentTypeFor, validateBucket, validateKey, type ByteRange, type ObjectStat, type ObjectStore, type ReadOptions } from './store.js';

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

// Uploads are written here first, then renamed into place: same file system (rename is atomic), and
// outside every bucket ('.' can't start a bucket name), so a crash mid-write leaves no stray object.
const TEMP_DIR = join('.stillframe', 'tmp');

/** Removes the temp directories of processes that no longer run (killed mid-write). */
async function sweepTemp(tempRoot: string): Promise<void> {
  for (const entry of await readdir(tempRoot).catch(() => [] as string[])) {
    const pid = Number(entry.split('-')[0]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await rm(join(tempRoot, entry), { recursive: true, force: true });
  }
}

/** rename(), or when the bucket is another file system (a mount), a copy beside the target renamed over it. */
async function renameAcross(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const near = join(dirname(target), `.${randomBytes(8).toString('hex')}.partial`);
    try {
      await copyFile(temp, near);
      await rename(near, target);
    } finally {
      await rm(near, { force: true });
    }
  }
}

export async function createFsStore(root: string): Promise<ObjectStore> {
  await mkdir(root, { recursive: true });
  const realRoot = await realpath(root);
  const tempRoot = join(realRoot, TEMP_DIR);
  await mkdir(tempRoot, { recursive: true });
  await sweepTemp(tempRoot);
  const tempDir = join(tempRoot, `${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tempDir, { recursive: true });

  const inside = (path: string) => path.startsWith(realRoot + sep);

  // Buckets come and go rarely; resolving one costs two system calls on every request (half of the
  // file-system work of a cached hit), so a resolved bucket is trusted for a second.
  const buckets = new Map<string, { dir: string; until: number }>();
  const BUCKET_TTL_MS = 1000;

  async function bucketDir(bucket: string): Promise<string> {
    validateBucket(bucket);
    const known = buckets.get(bucket);
    if (known && known.until > Date.now()) return known.dir;
    try {
      const dir = await realpath(join(realRoot, bucket));
      if (inside(dir) && (await stat(dir)).isDirectory()) {
        if (buckets.size > 10_000) buckets.clear();
        buckets.set(bucket, { dir, until: Date.now() + BUCKET_TTL_MS });
        return dir;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    throw errors.noSuchBucket(bucket);
  }

  // Likewise an object's real path (realpath walks every path component: the dearest call of a cached
  // hit). Only the proven-inside path is remembered, so a symlink planted meanwhile is never followed;
  // the stat below still runs on every call, so a rewritten object shows its new ETag at once.
  const resolved = new Map<string, { path: string; until: number }>();

  async function realObjectPath(dir: string, key: string): Promise<string> {
    const wanted = join(dir, key);
    const known = resolved.get(wanted);
    if (known && known.until > Date.now()) return known.path;
    let path: string;
    try {
      path = await realpath(wanted);
    } catch (err) {
      if (isNotFound(err)) throw errors.noSuchKey(key);
      throw err;
    }
    if (!path.startsWith(dir + sep)) throw errors.noSuchKey(key);
    if (resolved.size > 100_000) resolved.clear();
    resolved.set(wanted, { path, until: Date.now() + BUCKET_TTL_MS });
    return path;
  }

  /** The real path of an existing object, proven to be a regular file inside its bucket. */
  async function objectPath(bucket: string, key: string): Promise<{ path: string; size: number; stat: ObjectStat }> {
    validateKey(key);
    const dir = await bucketDir(bucket);
    const path = await realObjectPath(dir, key);
    let info: BigIntStats;
    try {
      info = await stat(path, { bigint: true });
    } catch (err) {
      // Gone since it was resolved (deleted, or its name moved): resolve afresh next time.
      resolved.delete(join(dir, key));
      if (isNotFound(err)) throw errors.noSuchKey(key);
      throw err;
    }
    if (!info.isFile()) throw errors.noSuchKey(key);
    // Identity of this version of the file: inode, size and nanosecond mtime change on every rewrite.
    const etag = createHash('sha1').update(`${info.ino}:${info.size}:${info.mtimeNs}`).digest('hex').slice(0, 32);
    const size = Number(info.size);
    return {
      path,
      size,
      stat: { size, etag: `"${etag}"`, lastModified: new Date(Number(info.mtimeMs)), contentType: contentTypeFor(key) },
    };
  }

  return {
    description: `file://${realRoot}`,
    async stat(bucket, key) {
      return (await objectPath(bucket, key)).stat;
    },
    async read(bucket, key, range?: ByteRange, options?: ReadOptions) {
      const { path, stat: current } = await objectPath(bucket, key);
      if (options?.ifMatch !== undefined && options.ifMatch !== current.etag) throw errors.objectChanged(key);
      return createReadStream(path, range ? { start: range.start, end: range.end } : {});
    },
    async write(bucket, key, body, contentType) {
      validateKey(key);
      const dir = await bucketDir(bucket);
      const target = join(dir, key);
      if (!target.startsWith(dir + sep)) throw errors.invalidObjectName('The object key leaves its bucket.');
      await mkdir(dirname(target), { recursive: true });
      // The parent may be a symlink planted to lead elsewhere: check where it really is.
      if (!((await realpath(dirname(target))) + sep).startsWith(dir + sep)) {
        throw errors.invalidObjectName('The object key leaves its bucket.');
      }
      // Write to the temp directory and rename over the target: readers never see a partial file, and a
      // crash leaves the temp file where the next start sweeps it away.
      const temp = join(tempDir, `${randomBytes(8).toString('hex')}.partial`);
      try {
        const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
        await pipeline(source, createWriteStream(temp, { flags: 'wx' }));
        await renameAcross(temp, target);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      const written = await objectPath(bucket, key);
      return contentType ? { ...written.stat, contentType } : written.stat;
    },
    async localPath(bucket, key) {
      return (await objectPath(bucket, key)).path;
    },
  };
}
