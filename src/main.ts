// Entry point and command dispatch: `stillframe [serve] [options]` (the default), `stillframe task …`,
// --help, --version. A command's modules are imported only when it runs: help and version load none
// of the server (Hono, sharp, the AWS SDK, the media engine) and answer in about Node's own start-up time.
import { readFileSync } from 'node:fs';
import { HELP_OPTION, parseCommand, UsageError } from './cli/args.js';

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./cli/serve.js')).serveCommand,
  task: async () => (await import('./tasks/cli.js')).taskCommand,
};

const HELP = `stillframe — frames from stored video as images

Usage:
  stillframe [serve] [options]   run the HTTP server (the default command)
  stillframe task <sub-command>  submit and follow IMM frame-capture tasks (submit, get, list, create-project)

Options:
  -h, --help     this help; "stillframe <command> --help" for a command's options
  -v, --version  print the version
`;

function version(): string {
  // dist/main.js and src/main.ts both sit one level below package.json.
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(args: string[]): Promise<void> {
  const [first, ...rest] = args;
  if (first === 'help') {
    // `stillframe help task` = `stillframe task --help`.
    if (rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0])) return (await COMMANDS[rest[0]]!())(['--help']);
    process.stdout.write(HELP);
  } else if (first === '-h' || first === '--help' || first === '-v' || first === '--version') {
    const { values } = parseCommand('stillframe', args, { help: HELP_OPTION, version: { type: 'boolean', short: 'v' } });
    process.stdout.write(values.help ? HELP : `${version()}\n`);
  } else if (first === undefined || first.startsWith('-')) {
    // Options without a command are the server's: `stillframe --port 9000`.
    await (await COMMANDS.serve!())(args);
  } else if (Object.hasOwn(COMMANDS, first)) {
    await (await COMMANDS[first]!())(rest);
  } else {
    throw new UsageError('stillframe', `unknown command "${first}"`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 2;
}
