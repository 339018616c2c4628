// Entry point and command dispatch: `stillframe [serve] [options]` (default) and its sub-commands.
import { serveCommand } from './serve.js';
import { taskCommand } from './tasks/cli.js';

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  serve: serveCommand,
  task: taskCommand,
};

const HELP = `stillframe — frames from stored video as images

Commands:
  serve [options]     run the HTTP server (default); stillframe serve --help lists its options
  task <sub-command>  submit and follow IMM frame-capture tasks (submit req.json --wait, get, list)

Run "stillframe <command> --help" for a command's options.
`;

const [first, ...rest] = process.argv.slice(2);
if (first === 'help' || first === '--help' || first === '-h') {
  process.stdout.write(HELP);
} else if (first !== undefined && COMMANDS[first]) {
  await COMMANDS[first](rest);
} else {
  await serveCommand(first === undefined ? [] : [first, ...rest]);
}
