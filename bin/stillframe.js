#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader, so the CLI and `npm start` run the same code.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
