// Strict command-line parsing (src/cli/args.ts): long, short and inline forms; unknown options, missing or
// unexpected values and stray arguments are UsageErrors naming the problem and pointing to --help.
import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../../src/cli/args.js';

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
