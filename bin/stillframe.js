#!/usr/bin/env node
// The `stillframe` command: runs the compiled server in dist/ (built by `npm run build`; the npm package
// and the Docker image ship it built). No TypeScript loader at run time.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('stillframe: dist/ is missing: run `npm run build` first (`npm start` builds, then serves)\n');
  process.exit(1);
}
await import(main.href);
