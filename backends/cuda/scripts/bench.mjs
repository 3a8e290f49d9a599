#!/usr/bin/env node
// npm run bench: the GPU bundle's benchmarks run from this checkout (no
// conformance suite; results in bench-results/cuda.json). Without a usable
// GPU it prints the reason and exits 0, so `npm run bench` at the root works
// everywhere.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'build', 'bench', 'bitexit-cuda-check.mjs');
await build({
  entryPoints: [join(root, 'gpu/main.ts')],
  outfile: script,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['bitexit-source'],
  alias: { vitest: join(root, '../../packages/conformance/src/standalone.ts') },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
mkdirSync(join(root, 'bench-results'), { recursive: true });
const env = { ...process.env, BITEXIT_CUDA_ADDON: process.env.BITEXIT_CUDA_ADDON ?? join(root, 'build/Release/bitexit_cuda.node') };
const r = spawnSync(process.execPath, [script, join(root, 'bench-results/cuda.json'), '--no-conformance', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});
process.exit(r.status === 2 ? 0 : (r.status ?? 1));
