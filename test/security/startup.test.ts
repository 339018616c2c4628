// The start-up notice: with no access keys the server says it runs open (and warns when it is not on
// loopback); with keys it says requests must be signed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from '../support/processes.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stillframe-startup-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('start-up notice', () => {
  it('no keys, loopback: says open access on loopback only', async () => {
    const s = await startServe({ HOST: '127.0.0.1', STILLFRAME_STORAGE: `file://${join(root, 'a')}` });
    try {
      expect(s.output()).toContain('no access keys configured: open access, listening on loopback only');
    } finally {
      await s.stop();
    }
  });

  it('no keys, all interfaces: warns', async () => {
    const s = await startServe({ HOST: '0.0.0.0', STILLFRAME_STORAGE: `file://${join(root, 'b')}` });
    try {
      const line = s.output().split('\n').find((l) => l.includes('no access keys configured'));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ level: 'warn', host: '0.0.0.0' });
    } finally {
      await s.stop();
    }
  });

  it('keys: says signatures are required and never prints a secret', async () => {
    const s = await startServe({ HOST: '127.0.0.1', STILLFRAME_STORAGE: `file://${join(root, 'c')}`, STILLFRAME_ACCESS_KEYS: 'id1:very-secret-value', STILLFRAME_BUCKET_ACL: 'demo:public-read' });
    try {
      await fetch(`${s.url}/demo/x.mp4?OSSAccessKeyId=id1&Expires=1&Signature=abc`);
      await new Promise((r) => setTimeout(r, 200));
      expect(s.output()).toContain('signed requests required');
      expect(s.output()).not.toContain('very-secret-value');
      expect(s.output()).not.toContain('Signature=abc');
    } finally {
      await s.stop();
    }
  });
});
