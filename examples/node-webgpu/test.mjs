// Smoke test: runs main.mjs greedily on the stories260K fixture on WebGPU (default
// features, then with shader-f16 and subgroups turned off) and checks that the
// text equals what the CPU reference backend generates for the same prompt.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel } from '@bitexit/engine';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = process.env.BITEXIT_FIXTURES ?? resolve(here, '..', '..', '..', 'shared', 'fixtures');
const model = resolve(fixtures, 'stories260K', 'stories260K.gguf');
if (!existsSync(model)) {
  console.log(`skipping the example smoke test: fixture ${model} not found`);
  process.exit(0);
}
const prompt = 'Once upon a time';
const maxTokens = 16;

// The reference: the same greedy generation on the CPU backend.
const cpu = await loadModel(model, { backend: await createCpuBackend() });
const expected = prompt + (await cpu.generate(prompt, { temperature: 0, maxTokens }).result).text;
await cpu.dispose();
await cpu.backend.dispose();

let failed = false;
for (const extra of [[], ['--disable-features', 'shader-f16,subgroups']]) {
  const label = extra.length ? extra.join(' ') : 'default features';
  const r = spawnSync(process.execPath, [resolve(here, 'main.mjs'), model, '--temperature', '0', '--max-tokens', String(maxTokens), ...extra], {
    encoding: 'utf8',
    timeout: 90_000,
  });
  if (r.status === 3) {
    // main.mjs explains at length; keep the reason line.
    const reason = r.stderr.split('\n').find((l) => l.includes('Reason:'))?.trim() ?? r.stderr.trim();
    console.log(`skipping the example smoke test: WebGPU unavailable in Node here (${reason})`);
    process.exit(0);
  }
  if (r.status !== 0 || r.stdout.trim() !== expected || !/decode \d+ tok\/s/.test(r.stderr)) {
    console.error(`example smoke test FAILED (${label}, exit ${r.status ?? r.signal})\n--- expected (CPU)\n${expected}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    failed = true;
    continue;
  }
  const speed = r.stderr.match(/decode \d+ tok\/s/)?.[0];
  console.log(`example smoke test passed (${label}, ${speed}): ${JSON.stringify(r.stdout.trim())} equals the CPU backend's text`);
}
process.exit(failed ? 1 : 0);
