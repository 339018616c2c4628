// Builds dist/ once per test run: tests that start stillframe as a user runs it spawn bin/stillframe.js,
// which runs the compiled JS, never the TypeScript sources.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function buildDist(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: resolve(import.meta.dirname, '..'), stdio: 'inherit' });
}
