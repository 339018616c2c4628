// The command line as a user meets it: the real bin/stillframe.js running the built dist/ (vitest's
// globalSetup builds it). Strict options on every command and sub-command (unknown → exit 2 naming the
// option, with a pointer to --help), help everywhere, --version, and help/version that load none of
// the server — proven by the modules Node resolves, and timed against the 1 s budget.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SETTINGS, type Setting } from '../../src/config.js';
import { BIN, stopAll, tempDir } from '../support/processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
afterAll(stopAll);

// Records every module URL the ESM loader resolves (a resolve hook, registered before bin/stillframe.js runs).
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.STILLFRAME_TEST_LOADED, result.url + '\\n');
  return result;
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Module URLs resolved, when traced. */
  loaded: string[];
}

async function stillframe(args: string[], options: { trace?: boolean; env?: Record<string, string> } = {}): Promise<Run> {
  const trace = options.trace ? join(await tempDir('cli-trace'), 'loaded.txt') : undefined;
  const nodeArgs = trace ? ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`] : [];
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    env: { ...process.env, ...options.env, ...(trace ? { STILLFRAME_TEST_LOADED: trace } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((ok) => child.on('close', ok));
  const ms = performance.now() - started;
  const loaded = trace ? (await readFile(trace, 'utf8').catch(() => '')).split('\n').filter(Boolean) : [];
  return { code, stdout, stderr, ms, loaded };
}

const flagged = Object.values(SETTINGS as Record<string, Setting<unknown>>).filter((s) => s.flag);

describe('stillframe --version and --help', () => {
  it.each([['--version'], ['-v']])('%s prints the package version', async (flag) => {
    const run = await stillframe([flag]);
    expect(run).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it.each([['--help'], ['-h'], ['help']])('%s lists the commands', async (flag) => {
    const run = await stillframe([flag]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('stillframe [serve] [options]');
    expect(run.stdout).toContain('stillframe task <sub-command>');
  });

  it.each([['serve', '--help'], ['serve', '-h'], ['--port', '9', '--help']])('%s %s lists every setting and every flag', async (...args) => {
    const run = await stillframe(args);
    expect(run.code).toBe(0);
    for (const s of Object.values(SETTINGS)) expect(run.stdout).toContain(s.env);
    for (const s of flagged) expect(run.stdout).toContain(`--${s.flag}`);
  });

  it.each([['task'], ['task', '-h'], ['task', '--help'], ['help', 'task']])('%s %s lists the sub-commands', async (...args) => {
    const run = await stillframe(args);
    expect(run.code).toBe(0);
    for (const sub of ['submit <request.json>', 'get <TaskId>', 'list --project', 'create-project <NAME>']) expect(run.stdout).toContain(`stillframe task ${sub}`);
  });

  it.each([['submit', '--wait'], ['get', '--project'], ['list', '--status'], ['create-project', '--endpoint']])('task %s --help describes its options (%s)', async (sub, option) => {
    for (const flag of ['--help', '-h']) {
      const run = await stillframe(['task', sub, flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Usage: stillframe task ${sub} `);
      expect(run.stdout).toContain(option);
    }
  });

  // What keeps them fast: none of the server is imported. Packages the server (or the engine) loads at
  // start-up must not appear; the task CLI's RPC modules load only when a request is sent.
  const SERVER = /\/node_modules\/(hono|@hono|sharp|@aws-sdk|bullmq|ioredis|node-av|lru-cache|undici)\/|\/dist\/(app|serve|deps)\.js$|\/dist\/(http|media|core|source|image|cache)\//;
  it.each([
    [['--version']],
    [['--help']],
    [['serve', '--help']],
    [['task', '--help']],
    [['task', 'submit', '--help']],
    [['serve', '--statsu']],
  ])('%j loads none of the server', async (args) => {
    const run = await stillframe(args, { trace: true });
    expect(run.loaded.some((url) => url.endsWith('/dist/main.js'))).toBe(true);
    expect(run.loaded.filter((url) => SERVER.test(url))).toEqual([]);
  });

  it('--help and --version answer within 1 s (best of 3)', async () => {
    for (const args of [['--help'], ['--version'], ['serve', '--help'], ['task', '--help']]) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) times.push((await stillframe(args)).ms);
      expect(Math.min(...times), `stillframe ${args.join(' ')}`).toBeLessThan(1000);
    }
  });
});

describe('strict options', () => {
  it.each([
    [['--statsu'], 'stillframe serve: unknown option --statsu (see stillframe serve --help)'],
    [['serve', '--statsu'], 'stillframe serve: unknown option --statsu (see stillframe serve --help)'],
    [['serve', '--port'], 'stillframe serve: --port needs a value (see stillframe serve --help)'],
    [['serve', '--port', '--host', '0.0.0.0'], 'stillframe serve: --port needs a value'],
    [['serve', '-x'], 'stillframe serve: unknown option -x'],
    [['serve', '--help=yes'], 'stillframe serve: --help takes no value'],
    [['serve', 'extra'], 'stillframe serve: unexpected argument "extra"'],
    [['--version', '--statsu'], 'stillframe: unknown option --statsu (see stillframe --help)'],
    [['frobnicate'], 'stillframe: unknown command "frobnicate" (see stillframe --help)'],
    [['task', '--statsu'], 'stillframe task: unknown option --statsu (see stillframe task --help)'],
    [['task', 'frobnicate'], 'stillframe task: unknown sub-command "frobnicate" (see stillframe task --help)'],
    [['task', 'submit', 'req.json', '--statsu'], 'stillframe task submit: unknown option --statsu (see stillframe task submit --help)'],
    [['task', 'submit'], 'stillframe task submit: missing <request.json>'],
    [['task', 'submit', 'a.json', 'b.json'], 'stillframe task submit: unexpected argument "b.json"'],
    [['task', 'submit', 'req.json', '--wait=no'], 'stillframe task submit: --wait takes no value'],
    [['task', 'get', 'MediaConvert-1'], 'stillframe task get: --project is required (see stillframe task get --help)'],
    [['task', 'get', 'MediaConvert-1', '--project', 'p', '--status', 'Failed'], 'stillframe task get: unknown option --status'],
    [['task', 'list', '--project'], 'stillframe task list: --project needs a value'],
    [['task', 'list', '--project', 'p', '--statsu', 'Failed'], 'stillframe task list: unknown option --statsu'],
    [['task', 'create-project', '--wait', 'p'], 'stillframe task create-project: unknown option --wait'],
  ])('%j → exit 2: %s', async (args, message) => {
    // No server runs: usage errors are found before any request (the endpoint would refuse).
    const run = await stillframe(args, { env: { STILLFRAME_ENDPOINT: 'http://127.0.0.1:9' } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(message);
  });

  it('every setting with a flag is accepted as --flag VALUE and --flag=VALUE', async () => {
    // The bad --port stops the start-up in the config's validation, after the options parsed.
    for (const s of flagged) {
      for (const args of [[`--${s.flag}`, 'example'], [`--${s.flag}=example`]]) {
        const run = await stillframe(['serve', ...args, '--port=eighty']);
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toBe('stillframe: --port must be an integer between 0 and 65535, got "eighty"\n');
      }
    }
  });
});
