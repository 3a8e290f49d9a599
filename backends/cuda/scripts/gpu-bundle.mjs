#!/usr/bin/env node
// npm run gpu:bundle -> gpu-bundle/ (gitignored): everything needed to run the
// CUDA conformance suite and benchmarks on a Linux x86-64 machine that has
// only the NVIDIA driver: node (xz), the addon, one bundled script, the
// fixture models, and run.sh. Stays under 40 MB.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

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
if (existsSync(addon)) execFileSync('sh', ['-c', `xz -9 -T0 -c "${addon}" > "${join(out, 'bitexit_cuda.node.xz')}"`], { stdio: 'inherit' });
else console.warn(`gpu:bundle: ${addon} does not exist (no nvcc here?); the bundle will report it`);

// 3. Node itself, xz-compressed.
console.log(`gpu:bundle: compressing ${process.execPath} (${process.version})`);
execFileSync('sh', ['-c', `xz -9 -T0 -c "${process.execPath}" > "${join(out, 'node.xz')}"`], { stdio: 'inherit' });

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
unpack() { # unpack FILE.xz to FILE once
  [ -f "$1" ] && return 0
  [ -f "$1.xz" ] || return 0
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1.xz" > "$1.tmp" || exit 1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c "import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())" "$1.xz" > "$1.tmp" || exit 1
  else
    echo "run.sh: need xz or python3 to unpack $1.xz" >&2
    exit 1
  fi
  chmod +x "$1.tmp" && mv "$1.tmp" "$1"
}
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

function size(p) {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((a, f) => a + size(join(p, f)), 0) : s.size;
}
const total = size(out);
for (const f of readdirSync(out)) console.log(`  ${f.padEnd(28)} ${(size(join(out, f)) / 2 ** 20).toFixed(2)} MB`);
console.log(`gpu:bundle: ${out} ${(total / 2 ** 20).toFixed(2)} MB`);
if (total > LIMIT) {
  console.error(`gpu:bundle: over the ${LIMIT / 2 ** 20} MB limit`);
  process.exit(1);
}
