// The embedded default: a local directory, one sub-directory per bucket. Paths are resolved with
// realpath and must stay inside the root, so neither a crafted key nor a symlink can leave it.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors } from '../errors.js';
import type { MediaInput } from '../media/input.js';
import { contentTypeFor, validateBucket, validateKey, type ByteRange, type ObjectStat, type ObjectStore } from './store.js';

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export async function createFsStore(root: string): Promise<ObjectStore> {
  await mkdir(root, { recursive: true });
  const realRoot = await realpath(root);

  const inside = (path: string) => path.startsWith(realRoot + sep);

  async function bucketDir(bucket: string): Promise<string> {
    validateBucket(bucket);
    try {
      const dir = await realpath(join(realRoot, bucket));
      if (inside(dir) && (await stat(dir)).isDirectory()) return dir;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    throw errors.noSuchBucket(bucket);
  }

  /** The real path of an existing object, proven to be a regular file inside its bucket. */
  async function objectPath(bucket: string, key: string): Promise<{ path: string; size: number; stat: ObjectStat }> {
    validateKey(key);
    const dir = await bucketDir(bucket);
    let path: string;
    try {
      path = await realpath(join(dir, key));
    } catch (err) {
      if (isNotFound(err)) throw errors.noSuchKey(key);
      throw err;
    }
    if (!path.startsWith(dir + sep)) throw errors.noSuchKey(key);
    const info = await stat(path, { bigint: true });
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
    async read(bucket, key, range?: ByteRange) {
      const { path } = await objectPath(bucket, key);
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
      // Write beside the target and rename over it: readers never see a partial file, and a crash
      // leaves only a dot-file that is not the object.
      const temp = join(dirname(target), `.${randomBytes(6).toString('hex')}.partial`);
      try {
        const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
        await pipeline(source, createWriteStream(temp, { flags: 'wx' }));
        await rename(temp, target);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      const written = await objectPath(bucket, key);
      return contentType ? { ...written.stat, contentType } : written.stat;
    },
    async mediaInput(bucket, key): Promise<MediaInput> {
      const { path } = await objectPath(bucket, key);
      return { url: `file:${path}`, protocols: ['file'] };
    },
  };
}
