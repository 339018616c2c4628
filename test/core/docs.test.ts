// The documentation against the code: docs/configuration.md's tables are exactly what `npm run
// docs:config` writes from the settings declaration (src/config.ts), so every setting the server reads is
// documented with its real default.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, withGeneratedTables } from '../../scripts/config-doc.js';
import { SETTINGS } from '../../src/config.js';

describe('docs/configuration.md', () => {
  const doc = readFileSync(CONFIG_DOC, 'utf8');

  it('holds the tables `npm run docs:config` generates from src/config.ts (run it after changing a setting)', () => {
    expect(doc).toBe(withGeneratedTables(doc));
  });

  it.each(Object.values(SETTINGS).map((s) => s.env))('documents %s', (env) => {
    expect(doc).toContain(`\`${env}\``);
  });
});
