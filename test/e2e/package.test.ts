// The release as shipped: `npm pack` holds the command, the compiled dist/ (mirroring src/ at the same
// depth), README and LICENSE, and nothing of test/, bench/, .ci/ or the TypeScript sources; dist/
// imports only runtime dependencies, so `npm ci --omit=dev` (the Docker image) runs it without tsx.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string; bin: Record<string, string>; dependencies: Record<string, string> };

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

describe('npm pack', () => {
  // dist/ was built by the globalSetup; --ignore-scripts skips prepack's rebuild.
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as [{ files: { path: string }[] }];
  const files = packed.files.map((f) => f.path).sort();

  it('ships the command, dist/, README and LICENSE, and no tests, benchmarks, CI or sources', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'bin/stillframe.js', 'dist/main.js', 'dist/serve.js', 'dist/cli/serve.js']));
    // The README's links lead into docs/: they ship with it.
    expect(files.filter((f) => !/^(dist\/.*\.js|docs\/[\w-]+\.md|bin\/stillframe\.js|LICENSE|README\.md|package\.json)$/.test(f))).toEqual([]);
    expect(files).toContain('docs/configuration.md');
    expect(Object.values(pkg.bin)).toEqual(['bin/stillframe.js']);
  });

  it('dist/ mirrors src/ at the same depth (paths from import.meta.url, such as ../package.json, hold)', () => {
    const sources = filesUnder('src').filter((f) => f.endsWith('.ts')).map((f) => f.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'));
    expect(files.filter((f) => f.startsWith('dist/'))).toEqual(sources.sort());
  });

  it('has an MIT LICENSE, as package.json says', () => {
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });
});

describe('dist/', () => {
  it('imports only Node built-ins, its own modules and runtime dependencies', () => {
    const builtins = new Set(builtinModules);
    const outside = new Set<string>();
    for (const file of filesUnder('dist').filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(ROOT, file), 'utf8');
      // `from '…'`, `import '…'`, `import('…')` — not a string that merely ends in "import" (`'--import'`).
      for (const m of code.matchAll(/(?<![-\w])(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const specifier = m[1]!;
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!Object.hasOwn(pkg.dependencies, name)) outside.add(`${file}: ${specifier}`);
      }
    }
    expect([...outside]).toEqual([]);
  });
});
