// Strict parsing (src/cli/args.ts) and the serve options generated from the SETTINGS declaration.
import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../../src/cli/args.js';
import { parseServeArgs, SERVE_OPTIONS } from '../../../src/cli/serve.js';
import { SETTINGS, type Setting } from '../../../src/config.js';

const settings = Object.values(SETTINGS as Record<string, Setting<unknown>>);

describe('parseCommand', () => {
  const options = { wait: { type: 'boolean' }, project: { type: 'string', short: 'p' } } as const;

  it('parses long, short and inline forms', () => {
    expect(parseCommand('x', ['--wait', '-p', 'a', 'file'], options, true)).toMatchObject({ values: { wait: true, project: 'a' }, positionals: ['file'] });
    expect(parseCommand('x', ['--project=b'], options).values).toEqual({ project: 'b' });
  });

  it.each([
    [['--statsu'], 'unknown option --statsu'],
    [['-q'], 'unknown option -q'],
    [['--project'], '--project needs a value'],
    [['--project', '--wait'], '--project needs a value'],
    [['--wait=yes'], '--wait takes no value'],
    [['stray'], 'unexpected argument "stray"'],
    [['--constructor'], 'unknown option --constructor'],
  ])('%j → UsageError "%s"', (args, problem) => {
    expect(() => parseCommand('stillframe x', args, options)).toThrow(UsageError);
    expect(() => parseCommand('stillframe x', args, options)).toThrow(`stillframe x: ${problem} (see stillframe x --help)`);
  });

  it('a value that looks like an option is taken when attached with =', () => {
    expect(parseCommand('x', ['--project=-a'], options).values).toEqual({ project: '-a' });
  });
});

describe('serve options', () => {
  it('are the settings that declare a flag, plus -h/--help', () => {
    expect(Object.keys(SERVE_OPTIONS).sort()).toEqual([...settings.flatMap((s) => (s.flag ? [s.flag] : [])), 'help'].sort());
  });

  it('map every flag to its setting, keyed by the flag', () => {
    for (const s of settings.filter((x) => x.flag)) {
      expect(parseServeArgs([`--${s.flag}`, 'v']).flags).toEqual({ [s.flag!]: 'v' });
      expect(parseServeArgs([`--${s.flag}=w`]).flags).toEqual({ [s.flag!]: 'w' });
    }
    expect(parseServeArgs(['-h'])).toEqual({ help: true, flags: {} });
  });
});
