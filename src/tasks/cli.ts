// `stillframe task …`: submit an IMM request file to a running server and (with --wait) follow it to the
// end with a progress bar. Talks the RPC form (object parameters as JSON strings), signed when
// STILLFRAME_ACCESS_KEY_ID / STILLFRAME_ACCESS_KEY_SECRET are set — the same wire format as pop-core.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IMM_VERSION } from '../http/imm-routes.js';
import { rpcSignature } from '../http/imm-auth.js';

const HELP = `stillframe task — IMM frame-capture tasks on a running stillframe server

Usage:
  stillframe task submit <request.json> [--wait] [--project NAME] [--endpoint URL]
  stillframe task get <TaskId> --project NAME [--endpoint URL]
  stillframe task list --project NAME [--status Running|Succeeded|Failed] [--endpoint URL]
  stillframe task create-project NAME [--endpoint URL]

<request.json> is a CreateMediaConvertTask body as in IMM's docs:
  {"ProjectName": "test-project", "Sources": [{"URI": "oss://bucket/in.mp4"}],
   "Targets": [{"Image": {"Snapshots": [{"Format": "jpg", "Interval": 10,
                                        "URI": "oss://bucket/out/{index}.{autoext}"}]}}]}

--wait polls GetTask until the task ends, drawing a progress bar on stderr, then prints the final
GetTask answer on stdout; the exit status is 0 when the task Succeeded, 1 when it Failed.

Environment:
  STILLFRAME_ENDPOINT               server URL (default http://127.0.0.1:$PORT, PORT default 8080)
  STILLFRAME_ACCESS_KEY_ID/_SECRET  sign requests (servers with STILLFRAME_ACCESS_KEYS set)
`;

class UsageError extends Error {}

interface Options {
  positional: string[];
  flags: Record<string, string | true>;
}

function parseArgs(args: string[]): Options {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (eq > 0) flags[name] = arg.slice(eq + 1);
    else if (['wait', 'help'].includes(name)) flags[name] = true;
    else {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
    }
  }
  return { positional, flags };
}

export interface RpcClient {
  call(action: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export class RpcError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${String(body.Code ?? status)}: ${String(body.Message ?? '')}`);
  }
}

/** A minimal RPC client: POST / with an urlencoded form; objects are sent as JSON strings. */
export function createRpcClient(endpoint: string, keys?: { id: string; secret: string }): RpcClient {
  const url = `${endpoint.replace(/\/+$/, '')}/`;
  return {
    async call(action, params) {
      const form: Record<string, string> = { Action: action, Version: IMM_VERSION, Format: 'JSON' };
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined) continue;
        form[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
      if (keys) {
        Object.assign(form, {
          AccessKeyId: keys.id,
          SignatureMethod: 'HMAC-SHA1',
          SignatureVersion: '1.0',
          SignatureNonce: randomUUID(),
          Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        });
        form.Signature = rpcSignature(keys.secret, 'POST', form);
      }
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      const text = await res.text();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new RpcError(res.status, { Code: `HTTP${res.status}`, Message: text.slice(0, 200) });
      }
      if (!res.ok) throw new RpcError(res.status, body);
      return body;
    },
  };
}

function bar(percent: number, width = 30): string {
  const filled = Math.round((percent / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}%`;
}

export async function waitForTask(
  client: RpcClient,
  projectName: string,
  taskId: string,
  options: { intervalMs?: number; stderr?: NodeJS.WriteStream } = {},
): Promise<Record<string, unknown>> {
  const stderr = options.stderr ?? process.stderr;
  const tty = stderr.isTTY === true;
  let lastShown = -1;
  const started = Date.now();
  for (;;) {
    const task = await client.call('GetTask', { ProjectName: projectName, TaskId: taskId, TaskType: 'MediaConvert' });
    const progress = Number(task.Progress ?? 0);
    const status = String(task.Status);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (tty) {
      stderr.write(`\r${bar(progress)} ${status.padEnd(9)} ${seconds}s`);
    } else if (Math.floor(progress / 10) !== Math.floor(lastShown / 10) || status !== 'Running') {
      stderr.write(`${taskId} ${status} ${progress}% (${seconds}s)\n`);
    }
    lastShown = progress;
    if (status !== 'Running') {
      if (tty) stderr.write('\n');
      return task;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
  }
}

function endpointOf(flags: Options['flags']): string {
  const flag = flags.endpoint;
  if (typeof flag === 'string') return flag;
  return process.env.STILLFRAME_ENDPOINT || `http://127.0.0.1:${process.env.PORT || 8080}`;
}

function keysFromEnv(): { id: string; secret: string } | undefined {
  const id = process.env.STILLFRAME_ACCESS_KEY_ID;
  const secret = process.env.STILLFRAME_ACCESS_KEY_SECRET;
  return id && secret ? { id, secret } : undefined;
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function requireProject(flags: Options['flags']): string {
  if (typeof flags.project !== 'string') throw new UsageError('--project NAME is required');
  return flags.project;
}

export async function taskCommand(args: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(args);
  } catch (err) {
    process.stderr.write(`stillframe task: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const [sub, ...rest] = options.positional;
  if (!sub || options.flags.help || sub === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const client = createRpcClient(endpointOf(options.flags), keysFromEnv());
  try {
    switch (sub) {
      case 'submit': {
        const file = rest[0];
        if (!file) throw new UsageError('submit needs a request file: stillframe task submit req.json');
        let request: Record<string, unknown>;
        try {
          request = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
        }
        if (typeof options.flags.project === 'string') request.ProjectName = options.flags.project;
        const created = await client.call('CreateMediaConvertTask', request);
        if (!options.flags.wait) {
          print(created);
          return;
        }
        process.stderr.write(`submitted ${String(created.TaskId)}\n`);
        const task = await waitForTask(client, String(request.ProjectName), String(created.TaskId));
        print(task);
        process.exitCode = task.Status === 'Succeeded' ? 0 : 1;
        return;
      }
      case 'get': {
        const taskId = rest[0];
        if (!taskId) throw new UsageError('get needs a TaskId');
        print(await client.call('GetTask', { ProjectName: requireProject(options.flags), TaskId: taskId, TaskType: 'MediaConvert' }));
        return;
      }
      case 'list': {
        const status = typeof options.flags.status === 'string' ? options.flags.status : undefined;
        print(await client.call('ListTasks', { ProjectName: requireProject(options.flags), Status: status }));
        return;
      }
      case 'create-project': {
        const name = rest[0];
        if (!name) throw new UsageError('create-project needs a project name');
        print(await client.call('CreateProject', { ProjectName: name }));
        return;
      }
      default:
        throw new UsageError(`unknown sub-command "${sub}" (see stillframe task --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`stillframe task: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof RpcError) {
      process.stderr.write(`stillframe task: the server answered ${err.status} ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`stillframe task: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
