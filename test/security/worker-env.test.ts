// Capture workers parse untrusted media in native code: if one is ever subverted, it must find no
// secret to steal. They start with a bare environment — PATH, TMPDIR, and an allocator setting — never
// the server's access keys, storage credentials, tokens or webhook secret.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, stopAll, tempDir, workerPids, type Node } from '../support/processes.js';

const SECRETS = {
  STILLFRAME_ACCESS_KEYS: 'AKID-worker-env:secret-worker-env-0123456789',
  STILLFRAME_OPS_TOKEN: 'ops-token-worker-env-0123456789',
  STILLFRAME_WEBHOOK_SECRET: 'webhook-secret-worker-env',
  AWS_ACCESS_KEY_ID: 'AKIAWORKERENV',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-worker-env',
};

let node: Node;

beforeAll(async () => {
  node = await startServe({ STILLFRAME_STORAGE: `file://${await tempDir('worker-env')}`, ...SECRETS });
});
afterAll(stopAll);

describe('capture worker environment', () => {
  it('holds only PATH, TMPDIR and the allocator setting: no key, credential, token or secret', async () => {
    const pids = await workerPids(node.child.pid!);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
      const names = environ.map((entry) => entry.slice(0, entry.indexOf('=')));
      for (const name of names) expect(['PATH', 'TMPDIR', 'MALLOC_MMAP_THRESHOLD_', 'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE']).toContain(name);
      for (const value of Object.values(SECRETS)) expect(environ.join('\n')).not.toContain(value);
    }
  });
});
