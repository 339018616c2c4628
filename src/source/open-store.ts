// Storage locations from config → adapters. The S3 SDK is loaded only when an s3:// store is configured
// (it costs start-up time a local deployment should not pay).
import type { Config, StorageLocation } from '../config.js';
import { AppError, errors } from '../errors.js';
import { createFsStore } from './fs-store.js';
import { createHttpStore } from './http-store.js';
import type { ObjectStore } from './store.js';

export async function openStore(location: StorageLocation, config: Pick<Config, 's3' | 'origin'>): Promise<ObjectStore> {
  switch (location.kind) {
    case 'file':
      return createFsStore(location.root);
    case 's3': {
      const { createS3Store } = await import('./s3-store.js');
      return createS3Store({ ...config.s3, timeoutMs: config.origin.timeoutMs });
    }
    case 'http':
      return createHttpStore({ baseUrl: location.url, timeoutMs: config.origin.timeoutMs });
  }
}

/**
 * Where outputs (IMM task results) are written: the configured output storage, else the main store when
 * it is writable, else a store whose writes fail with a message saying what to configure.
 */
export function outputStoreOf(main: ObjectStore, output: ObjectStore | undefined): ObjectStore {
  if (output) return output;
  if (!main.readOnly) return main;
  return {
    ...main,
    readOnly: true,
    async write() {
      throw errors.noOutputStorage(main.description);
    },
  };
}

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Bytes [start, end] of one version of an object, whole in memory (block-sized reads for the block cache). */
export function rangeFetcher(store: ObjectStore) {
  return async (object: { bucket: string; key: string; etag: string }, start: number, end: number): Promise<Buffer> => {
    const stream = await store.read(object.bucket, object.key, { start, end }, { ifMatch: object.etag });
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer);
        length += (chunk as Buffer).length;
        if (length > end - start + 1) break;
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      const e = err as { name?: string; code?: string };
      if (TIMEOUT_NAMES.has(e.name ?? '') || TIMEOUT_CODES.has(e.code ?? '')) {
        throw errors.originTimeout(`The origin stopped sending ${object.bucket}/${object.key}.`, err);
      }
      throw errors.originFailed(`The origin failed while sending ${object.bucket}/${object.key}.`, err);
    } finally {
      stream.destroy();
    }
    return Buffer.concat(chunks, length).subarray(0, end - start + 1);
  };
}
