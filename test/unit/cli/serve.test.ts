// `stillframe serve`'s options (src/cli/serve.ts), generated from the SETTINGS declaration: one flag per
// setting that declares one, each mapped to its setting; unknown flags refused.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/args.js';
import { parseServeArgs, SERVE_OPTIONS } from '../../../src/cli/serve.js';
import { SETTINGS, type Setting } from '../../../src/config.js';

const settings = Object.values(SETTINGS as Record<string, Setting<unknown>>);

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

  it('rejects unknown flags', () => {
    expect(() => parseServeArgs(['--prot', '1'])).toThrow(UsageError);
    expect(() => parseServeArgs(['--prot', '1'])).toThrow('stillframe serve: unknown option --prot (see stillframe serve --help)');
  });
});
