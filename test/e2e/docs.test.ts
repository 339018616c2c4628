// The README's configuration table must list every setting the server reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it.each(Object.values(SETTINGS).map((s) => s.env))('documents %s', (env) => {
    expect(readme).toContain(`\`${env}\``);
  });
});
