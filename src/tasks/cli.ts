// `stillframe task …`: submit an IMM request file to a running server and (with --wait) follow it to the
// end with a progress bar. Talks the RPC form (object parameters as JSON strings), signed when
// STILLFRAME_ACCESS_KEY_ID / STILLFRAME_ACCESS_KEY_SECRET are set — the same wire format as pop-core.
// Each sub-command parses its own options strictly; the RPC modules load only when a request is sent.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ParseArgsOptionsConfig } from 'node:util';
import { HELP_OPTION, parseCommand, UsageError } from '../cli/args.js';

const ENVIRONMENT = `Environment:
  STILLFRAME_ENDPOINT               server URL (default http://127.0.0.1:$PORT, PORT default 8080)
  STILLFRAME_ACCESS_KEY_ID/_SECRET  sign requests (servers with STILLFRAME_ACCESS_KEYS set)
`;

const ENDPOINT = '  --endpoint URL  the server (default: STILLFRAME_ENDPOINT, else http://127.0.0.1:$PORT)\n';

interface SubCommand {
  usage: string;
  /** Positional arguments, all required. */
  operands: string[];
  /** Options that must be given. */
  required?: string[];
  options: ParseArgsOptionsConfig;
  help: string;
}

const SUB_COMMANDS: Record<string, SubCommand> = {
  submit: {
    usage: 'submit <request.json> [--wait] [--project NAME] [--endpoint URL]',
    operands: ['<request.json>'],
    options: { wait: { type: 'boolean' }, project: { type: 'string' }, endpoint: { type: 'string' } },
    help: `Sends <request.json>, a CreateMediaConvertTask body as in IMM's docs, and prints the answer (TaskId):
  {"ProjectName": "test-project", "Sources": [{"URI": "oss://bucket/in.mp4"}],
   "Targets": [{"Image": {"Snapshots": [{"Format": "jpg", "Interval": 10,
                                        "URI": "oss://bucket/out/{index}.{autoext}"}]}}]}

Options:
  --wait          poll GetTask until the task ends, drawing a progress bar on stderr, then print the
                  final GetTask answer; exit 0 when the task Succeeded, 1 when it Failed
  --project NAME  overrides the file's ProjectName
${ENDPOINT}`,
  },
  get: {
    usage: 'get <TaskId> --project NAME [--endpoint URL]',
    operands: ['<TaskId>'],
    required: ['project'],
    options: { project: { type: 'string' }, endpoint: { type: 'string' } },
    help: `Prints GetTask's answer: status, progress, outputs.

Options:
  --project NAME  the task's project (required)
${ENDPOINT}`,
  },
  list: {
    usage: 'list --project NAME [--status Running|Succeeded|Failed] [--endpoint URL]',
    operands: [],
    required: ['project'],
    options: { project: { type: 'string' }, status: { type: 'string' }, endpoint: { type: 'string' } },
    help: `Prints ListTasks' answer for a project.

Options:
  --project NAME  the project (required)
  --status S      only tasks in status S: Running, Succeeded or Failed
${ENDPOINT}`,
  },
  'create-project': {
    usage: 'create-project <NAME> [--endpoint URL]',
    operands: ['<NAME>'],
    options: { endpoint: { type: 'string' } },
    help: `Creates a project (CreateProject); tasks are submitted to a project.

Options:
${ENDPOINT}`,
  },
};

const HELP = `stillframe task — IMM frame-capture tasks on a running stillframe server

Usage:
${Object.values(SUB_COMMANDS)
  .map((s) => `  stillframe task ${s.usage}\n`)
  .join('')}
Run "stillframe task <sub-command> --help" for one's options.

${ENVIRONMENT}`;

const subCommandHelp = (s: SubCommand) => `Usage: stillframe task ${s.usage}

${s.help}  -h, --help      this help

${ENVIRONMENT}`;

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
      const [{ IMM_VERSION }, { rpcSignature }] = await Promise.all([import('../http/imm-routes.js'), import('../http/imm-auth.js')]);
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

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function endpointOf(values: Values): string {
  if (typeof values.endpoint === 'string') return values.endpoint;
  return process.env.STILLFRAME_ENDPOINT || `http://127.0.0.1:${process.env.PORT || 8080}`;
}

function keysFromEnv(): { id: string; secret: string } | undefined {
  const id = process.env.STILLFRAME_ACCESS_KEY_ID;
  const secret = process.env.STILLFRAME_ACCESS_KEY_SECRET;
  return id && secret ? { id, secret } : undefined;
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export async function taskCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub.startsWith('-')) {
    // Only -h/--help may come before the sub-command.
    if (sub?.startsWith('-')) parseCommand('stillframe task', args, { help: HELP_OPTION });
    process.stdout.write(HELP);
    return;
  }
  const spec = Object.hasOwn(SUB_COMMANDS, sub) ? SUB_COMMANDS[sub]! : undefined;
  if (!spec) throw new UsageError('stillframe task', `unknown sub-command "${sub}"`);
  const command = `stillframe task ${sub}`;
  const parsed = parseCommand(command, rest, { ...spec.options, help: HELP_OPTION }, true);
  const values = parsed.values as Values;
  const { positionals } = parsed;
  if (values.help) {
    process.stdout.write(subCommandHelp(spec));
    return;
  }
  if (positionals.length < spec.operands.length) throw new UsageError(command, `missing ${spec.operands[positionals.length]}`);
  if (positionals.length > spec.operands.length) throw new UsageError(command, `unexpected argument "${positionals[spec.operands.length]}"`);
  for (const name of spec.required ?? []) if (typeof values[name] !== 'string') throw new UsageError(command, `--${name} is required`);

  const client = createRpcClient(endpointOf(values), keysFromEnv());
  const [operand] = positionals;
  try {
    switch (sub) {
      case 'submit': {
        let request: Record<string, unknown>;
        try {
          request = JSON.parse(await readFile(operand!, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new UsageError(command, `cannot read ${operand}: ${(err as Error).message}`);
        }
        if (typeof values.project === 'string') request.ProjectName = values.project;
        const created = await client.call('CreateMediaConvertTask', request);
        if (!values.wait) {
          print(created);
          return;
        }
        process.stderr.write(`submitted ${String(created.TaskId)}\n`);
        const task = await waitForTask(client, String(request.ProjectName), String(created.TaskId));
        print(task);
        process.exitCode = task.Status === 'Succeeded' ? 0 : 1;
        return;
      }
      case 'get':
        print(await client.call('GetTask', { ProjectName: values.project, TaskId: operand, TaskType: 'MediaConvert' }));
        return;
      case 'list':
        print(await client.call('ListTasks', { ProjectName: values.project, Status: values.status }));
        return;
      case 'create-project':
        print(await client.call('CreateProject', { ProjectName: operand }));
        return;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof RpcError) {
      process.stderr.write(`stillframe task: the server answered ${err.status} ${err.message}\n`);
    } else {
      process.stderr.write(`stillframe task: ${(err as Error).message}\n`);
    }
    process.exitCode = 1;
  }
}
