#!/usr/bin/env node
// npm run gpu:bundle -> gpu-bundle/ (gitignored): everything needed to run the
// WebGPU conformance suite and benchmarks in Node on a Linux x86-64 machine
// that has a Vulkan driver (and its loader, libvulkan.so.1) but no Node
// toolchain: two bundled scripts, the `webgpu` package's Linux Dawn addon
// (xz-compressed), the fixture models and run.sh. Node itself is not copied
// (backend-cuda's bundle carries one): run.sh takes $NODE, else
// ../../cuda/gpu-bundle/node(.xz), else `node` on PATH.
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { reportSize, UNPACK_SH, xzTo } from '../../../tools/gpu-bundle/common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'gpu-bundle');
const fixtures = process.env.BITEXIT_FIXTURES ?? join(root, '../../../shared/fixtures');
const LIMIT = 24 * 2 ** 20;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. The scripts, from the sources (bench/run.mjs imports ../dist/index.js: mapped to src).
const fromSource = {
  name: 'webgpu-from-source',
  setup(b) {
    b.onResolve({ filter: /\/dist\/index\.js$/ }, (a) => (a.importer.startsWith(join(root, 'bench')) ? { path: join(root, 'src/index.ts') } : undefined));
  },
};
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['bitexit-source'],
  external: ['webgpu'],
  alias: { vitest: join(root, '../../packages/conformance/src/standalone.ts') },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [fromSource],
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(root, 'gpu/main.ts')], outfile: join(out, 'bitexit-webgpu-check.mjs') });
await build({ ...common, entryPoints: [join(root, 'bench/run.mjs')], outfile: join(out, 'webgpu-bench.mjs') });

// 2. The `webgpu` package with only its Linux x86-64 Dawn addon (xz: 18 MB -> ~5 MB).
const pkgDir = dirname(createRequire(join(root, 'package.json')).resolve('webgpu/package.json'));
const dst = join(out, 'node_modules/webgpu');
mkdirSync(join(dst, 'dist'), { recursive: true });
for (const f of ['index.js', 'package.json', 'LICENSE.md']) if (existsSync(join(pkgDir, f))) cpSync(join(pkgDir, f), join(dst, f));
xzTo(join(pkgDir, 'dist/linux-x64.dawn.node'), join(dst, 'dist/linux-x64.dawn.node.xz'));

// 3. Fixture models and the dev text (the model decode benchmark reads both).
if (existsSync(fixtures)) cpSync(fixtures, join(out, 'fixtures'), { recursive: true });
else console.warn(`gpu:bundle: no fixtures at ${fixtures}; model checks will skip`);

// 4. run.sh
writeFileSync(
  join(out, 'run.sh'),
  `#!/bin/sh
# bitexit WebGPU check in Node: conformance suite (default and fallback paths) + benchmarks.
# Needs a Vulkan driver and libvulkan.so.1. Usage: ./run.sh OUTDIR [--no-bench] [--no-conformance] [--no-models]
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
${UNPACK_SH}
unpack "$DIR/node_modules/webgpu/dist/linux-x64.dawn.node"
if [ -z "\${NODE:-}" ]; then
  NODE=node
  C="$DIR/../../cuda/gpu-bundle/node"
  if [ -f "$C" ] || [ -f "$C.xz" ]; then unpack "$C"; NODE="$C"; fi
fi
OUTDIR="\${1:-$DIR}"; shift 2>/dev/null || true
mkdir -p "$OUTDIR"
export BITEXIT_FIXTURES="$DIR/fixtures"
status=0
case " $* " in *" --no-conformance "*) ;; *)
  "$NODE" "$DIR/bitexit-webgpu-check.mjs" "$OUTDIR/webgpu-conformance.json" "$@"; status=$? ;; esac
case " $* " in *" --no-bench "*) ;; *)
  "$NODE" "$DIR/webgpu-bench.mjs" --out "$OUTDIR/webgpu-bench.json" || status=1 ;; esac
echo "run.sh: exit $status (0 passed, 1 failures, 2 WebGPU unavailable); results in $OUTDIR"
exit $status
`,
);
chmodSync(join(out, 'run.sh'), 0o755);

reportSize(out, LIMIT);
