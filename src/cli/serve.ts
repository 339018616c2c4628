// `stillframe [serve] [options]`: its options are generated from the SETTINGS declaration (each setting
// with a `flag`), its help lists every setting. The server's modules (src/serve.ts and everything it
// wires) load only once there is a valid config to serve, so --help starts as fast as Node does.
import { ConfigError, loadConfig, SETTINGS, type Config, type Setting } from '../config.js';
import { HELP_OPTION, parseCommand } from './args.js';

const settings = Object.values(SETTINGS as Record<string, Setting<unknown>>);

/** `--<flag> <value>` for every setting that has a flag, and -h/--help. */
export const SERVE_OPTIONS = {
  ...Object.fromEntries(settings.filter((s) => s.flag).map((s) => [s.flag!, { type: 'string' as const }])),
  help: HELP_OPTION,
};

const HELP = `stillframe — frames from stored video as images (OSS video/snapshot URLs, IMM frame-capture tasks)

Usage: stillframe [serve] ${settings.filter((s) => s.flag).map((s) => `[--${s.flag} ${s.flag!.toUpperCase()}]`).join(' ')}

  -h, --help  this help

Settings (environment variable, flag where there is one, default; a flag wins over its variable):
${settings
  .map((s) => `  ${s.env.padEnd(32)}${(s.flag ? `--${s.flag}` : '').padEnd(11)}${s.help}\n${''.padEnd(43)}default: ${s.shown ?? String(s.default)}`)
  .join('\n')}

Example: stillframe --port 8080 --storage file://./data
Then:    curl -o frame.jpg 'http://127.0.0.1:8080/demo/sample.mp4?x-oss-process=video/snapshot,t_2000,f_jpg,w_320'
`;

/** `--port 9000` / `--port=9000` → flags { port: '9000' } (keyed by the settings' flags); anything else → UsageError. */
export function parseServeArgs(args: string[]): { help: boolean; flags: Record<string, string> } {
  const { values } = parseCommand('stillframe serve', args, SERVE_OPTIONS);
  const { help, ...flags } = values as Record<string, string | boolean | undefined>;
  return { help: help === true, flags: flags as Record<string, string> };
}

export async function serveCommand(args: string[]): Promise<void> {
  const { help, flags } = parseServeArgs(args);
  if (help) {
    process.stdout.write(HELP);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, flags);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`stillframe: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const { runServer } = await import('../serve.js');
  await runServer(config);
}
