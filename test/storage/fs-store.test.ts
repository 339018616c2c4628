// The local directory adapter against the shared conformance suite.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsStore } from '../../src/source/fs-store.js';
import { storeConformance } from './conformance.js';
import { putFile } from '../support/storage.js';

storeConformance('local directory (file://)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-fs-conformance-'));
  await mkdir(join(root, 'media'));
  return {
    store: await createFsStore(root),
    bucket: 'media',
    seed: (bucket, key, body) => putFile(root, bucket, key, body),
    writable: true,
    bucketErrors: true,
    env: { STILLFRAME_STORAGE: `file://${root}` },
    close: () => rm(root, { recursive: true, force: true }),
  };
});
