#!/usr/bin/env node
// npm run gpu:bundle -> gpu-bundle/ (gitignored): everything needed to run the
// CUDA conformance suite and benchmarks on a Linux x86-64 machine that has
// only the NVIDIA driver: node (xz), the addon, one bundled script, the
// fixture models, and run.sh. Stays under 40 MB.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { reportSize, UNPACK_SH, xzTo } from '../../../tools/gpu-bundle/common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'gpu-bundle');
const fixtures = process.env.BITEXIT_FIXTURES ?? join(root, '../../../shared/fixtures');
const LIMIT = 40 * 2 ** 20;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. The script: conformance suite + benchmarks, with vitest replaced by a tiny runner.
await build({
  entryPoints: [join(root, 'gpu/main.ts')],
  outfile: join(out, 'bitexit-cuda-check.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['bitexit-source'],
  alias: { vitest: join(root, '../../packages/conformance/src/standalone.ts') },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});

// 2. The addon (absent when this machine has no nvcc: the bundle then reports that).
const addon = join(root, 'build/Release/bitexit_cuda.node');
// xz-compressed like node (the fat binary shrinks by more than half); run.sh unpacks both.
if (existsSync(addon)) xzTo(addon, join(out, 'bitexit_cuda.node.xz'));
else console.warn(`gpu:bundle: ${addon} does not exist (no nvcc here?); the bundle will report it`);

// 3. Node itself, xz-compressed.
console.log(`gpu:bundle: compressing ${process.execPath} (${process.version})`);
xzTo(process.execPath, join(out, 'node.xz'));

// 4. Fixture models for the whole-model checks.
// Only what the model checks read (text/ is the tokenizer benchmark corpus).
if (existsSync(fixtures)) {
  cpSync(fixtures, join(out, 'fixtures'), { recursive: true, filter: (src) => !src.startsWith(join(fixtures, 'text')) });
}
else console.warn(`gpu:bundle: no fixtures at ${fixtures}; model checks will skip`);
// A bx-quantized stories260K (3.3 bits, round-to-nearest: a few seconds) for the whole-model bx check.
if (existsSync(fixtures)) {
  mkdirSync(join(out, 'fixtures', 'bx'), { recursive: true });
  const cli = join(root, '../../packages/cli/bin/bitexit.js');
  execFileSync(process.execPath, [cli, 'quantize', join(fixtures, 'stories260K/stories260K.gguf'), '-o', join(out, 'fixtures/bx/stories260K-3.3.gguf'), '--bits', '3.3'], { stdio: 'inherit' });
}

// 5. run.sh
writeFileSync(
  join(out, 'run.sh'),
  `#!/bin/sh
# bitexit CUDA check: conformance suite + benchmarks. Needs only the NVIDIA driver.
# Usage: ./run.sh [results.json] [--no-bench] [--no-conformance] [--no-models]
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
${UNPACK_SH}
NODE="$DIR/node"
unpack "$NODE"
unpack "$DIR/bitexit_cuda.node"
OUT="$DIR/results.json"
case "\${1:-}" in --*|"") ;; *) OUT="$1"; shift ;; esac
BITEXIT_CUDA_ADDON="$DIR/bitexit_cuda.node" BITEXIT_FIXTURES="$DIR/fixtures" "$NODE" "$DIR/bitexit-cuda-check.mjs" "$OUT" "$@"
status=$?
echo "run.sh: exit $status (0 passed, 1 failures, 2 CUDA unavailable); results in $OUT"
exit $status
`,
);
chmodSync(join(out, 'run.sh'), 0o755);

reportSize(out, LIMIT);
