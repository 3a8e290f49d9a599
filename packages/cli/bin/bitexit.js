#!/usr/bin/env node
// Launcher for the built CLI (dist/bin.js). It is committed rather than built
// because npm links package bins at install time, before the root `prepare`
// script has built dist/: a bin pointing into dist/ would not be linked on a
// fresh clone, and `npx bitexit` would fail.
import { existsSync } from 'node:fs';

const target = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(target)) {
  console.error('bitexit: the CLI is not built (packages/cli/dist/bin.js is missing): run `npm run build` at the repository root');
  process.exit(1);
}
await import(target.href);
