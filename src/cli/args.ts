// Command-line parsing for every command: node:util parseArgs in strict mode (unknown options, missing
// values and stray arguments are errors), its errors turned into one short line that names the
// offending argument and points at the command's --help. Usage errors exit 2 (src/main.ts).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(
    readonly command: string,
    problem: string,
  ) {
    super(`${command}: ${problem} (see ${command} --help)`);
  }
}

export const HELP_OPTION = { type: 'boolean', short: 'h' } as const;

/** parseArgs with strict: true; `command` ("stillframe task submit") prefixes error messages. */
export function parseCommand<const O extends ParseArgsOptionsConfig>(command: string, args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (!(err instanceof TypeError) || typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw err;
    throw new UsageError(command, problemIn(args, options, allowPositionals) ?? err.message);
  }
}

/**
 * The first argument strict parsing refuses, said briefly. Node's own messages are long and written for
 * programmers; the lenient parse's tokens say which argument it was, without matching message text.
 */
function problemIn(args: string[], options: ParseArgsOptionsConfig, allowPositionals: boolean): string | undefined {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'positional' && !allowPositionals) return `unexpected argument "${token.value}"`;
    if (token.kind !== 'option') continue;
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!option) return `unknown option ${token.rawName}`;
    // A string option's value may not look like an option (`--port --host x`): strict mode refuses it.
    if (option.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))) return `${token.rawName} needs a value`;
    if (option.type === 'boolean' && token.value !== undefined) return `${token.rawName} takes no value`;
  }
  return undefined;
}
