// Smoke test. With a GPU: a greedy run on stories260K must give the known
// continuation. Without one: the example must exit 2 and name the reason.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cudaBackendProvider } from '@bitexit/backend-cuda';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = process.env.BITEXIT_FIXTURES ?? resolve(here, '..', '..', '..', 'shared', 'fixtures');
const model = resolve(fixtures, 'stories260K', 'stories260K.gguf');
const availability = await cudaBackendProvider.probe();
const r = spawnSync(process.execPath, [resolve(here, 'main.mjs'), model, '--temperature', '0', '--max-tokens', '16'], {
  encoding: 'utf8',
  timeout: 120_000,
});
if (!availability.ok) {
  if (r.status !== 2 || !r.stderr.includes(availability.reason)) {
    console.error(`example smoke test FAILED: expected exit 2 naming "${availability.reason}" (exit ${r.status})\n${r.stderr}`);
    process.exit(1);
  }
  console.log(`example smoke test passed (no GPU here: the example said "${availability.reason}" and exited 2)`);
  process.exit(0);
}
if (!existsSync(model)) {
  console.log(`skipping the example smoke test: fixture ${model} not found`);
  process.exit(0);
}
const expected = 'Once upon a time, there was a little girl named Lily.';
if (r.status !== 0 || !r.stdout.startsWith(expected) || !/decode \d+ tok\/s/.test(r.stderr)) {
  console.error(`example smoke test FAILED (exit ${r.status})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  process.exit(1);
}
console.log(`example smoke test passed: ${JSON.stringify(r.stdout.trim())}`);
