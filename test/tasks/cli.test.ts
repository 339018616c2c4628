// `stillframe task submit req.json --wait`: the CLI against a running server, signed when keys are set.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';

const BIN = resolve(import.meta.dirname, '../../bin/stillframe.js');
let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startServer({
    env: { STILLFRAME_ACCESS_KEYS: 'cli-key:cli-secret' },
    objects: { 'media/v.mp4': await fixture({ container: 'mp4', codec: 'h264', seconds: 4 }) },
  });
  dir = await mkdtemp(join(tmpdir(), 'stillframe-cli-'));
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'task', ...args], {
    env: { ...process.env, STILLFRAME_ENDPOINT: server.url, STILLFRAME_ACCESS_KEY_ID: 'cli-key', STILLFRAME_ACCESS_KEY_SECRET: 'cli-secret', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((ok) => child.on('close', (code) => ok({ code, stdout, stderr })));
}

describe('stillframe task', () => {
  it('creates a project, submits a request file and waits for the end with progress', async () => {
    expect((await cli(['create-project', 'cli-project'])).code).toBe(0);
    const file = join(dir, 'req.json');
    await writeFile(file, JSON.stringify({
      ProjectName: 'cli-project',
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Interval: 0.5, URI: 'oss://media/cli/{index}.jpg' }] } }],
    }));
    const run = await cli(['submit', file, '--wait']);
    expect(run.code, run.stderr).toBe(0);
    const task = JSON.parse(run.stdout);
    expect(task).toMatchObject({ Status: 'Succeeded', Progress: 100, ProjectName: 'cli-project' });
    expect(task.Outputs).toHaveLength(8);
    expect(run.stderr).toMatch(/^submitted MediaConvert-/m);
    expect(run.stderr).toMatch(/Succeeded 100%/);

    const listed = await cli(['list', '--project', 'cli-project']);
    expect(JSON.parse(listed.stdout).Tasks.map((t: { TaskId: string }) => t.TaskId)).toEqual([task.TaskId]);
  }, 60_000);

  it('exits 1 on a failed task or a rejected request, 2 on usage errors', async () => {
    const file = join(dir, 'late.json');
    await writeFile(file, JSON.stringify({
      ProjectName: 'cli-project',
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'jpg', StartTime: 99, Number: 1, URI: 'oss://media/cli/late.jpg' }] } }],
    }));
    const failed = await cli(['submit', file, '--wait']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ Status: 'Failed', Code: 'InvalidArgument' });

    const rejected = await cli(['submit', file, '--project', 'no-such-project']);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('the server answered 404 ResourceNotFound: ProjectName: the project "no-such-project" does not exist.');

    const unsigned = await cli(['list', '--project', 'cli-project'], { STILLFRAME_ACCESS_KEY_SECRET: 'wrong' });
    expect(unsigned.stderr).toContain('403 SignatureDoesNotMatch');

    expect((await cli(['submit'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
  }, 60_000);
});
