// Smoke test: runs main.mjs greedily on the stories260K fixture and checks the known continuation.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = process.env.BITEXIT_FIXTURES ?? resolve(here, '..', '..', '..', 'shared', 'fixtures');
const model = resolve(fixtures, 'stories260K', 'stories260K.gguf');
if (!existsSync(model)) {
  console.log(`skipping the example smoke test: fixture ${model} not found`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [resolve(here, 'main.mjs'), model, '--temperature', '0', '--max-tokens', '16'], {
  encoding: 'utf8',
  timeout: 60_000,
});
const expected = 'Once upon a time, there was a little girl named Lily.';
if (r.status !== 0 || !r.stdout.startsWith(expected) || !/decode \d+ tok\/s/.test(r.stderr)) {
  console.error(`example smoke test FAILED (exit ${r.status})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  process.exit(1);
}
console.log(`example smoke test passed: ${JSON.stringify(r.stdout.trim())}`);
