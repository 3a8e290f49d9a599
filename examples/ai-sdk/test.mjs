// Smoke test: main.mjs on the embedded demo model, greedy; the same text twice, stats on stderr.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const run = () =>
  spawnSync(process.execPath, [resolve(here, 'main.mjs'), '--temperature', '0', '--max-tokens', '24'], { encoding: 'utf8', timeout: 60_000 });
const a = run();
const b = run();
const ok =
  a.status === 0 &&
  a.stdout.trim().length > 20 &&
  a.stdout === b.stdout &&
  /\d+ prompt tokens, 24 generated \(length\); decode \d+ tok\/s on cpu/.test(a.stderr);
if (!ok) {
  console.error(`ai-sdk example smoke test FAILED (exit ${a.status})\n--- stdout\n${a.stdout}\n--- stderr\n${a.stderr}`);
  process.exit(1);
}
console.log(`ai-sdk example smoke test passed: ${JSON.stringify(a.stdout.trim())}`);
