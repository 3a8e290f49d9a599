#!/usr/bin/env node
// Builds build/emu/bitexit_cuda_emu.node: the same addon.cc and kernels.cu,
// compiled with g++ against test/emu/cuda_emu.h (a host emulation of the CUDA
// runtime and of block/warp execution), so the conformance suite can run the
// real kernels on a machine without a GPU. Kernel launches `k<<<cfg>>>(args)`
// become `emuLaunch(k, cfg, args)`. Prints the addon path.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'emu');
const addon = join(out, 'bitexit_cuda_emu.node');
const sources = ['src/native/addon.cc', 'src/native/kernels.cu', 'src/native/ops.h', 'src/native/bx.h', 'test/emu/cuda_emu.h'].map((f) => join(root, f));
const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
if (existsSync(addon) && statSync(addon).mtimeMs > newest) {
  console.log(addon);
  process.exit(0);
}
mkdirSync(out, { recursive: true });
let cu = readFileSync(join(root, 'src/native/kernels.cu'), 'utf8');
cu = cu.replace(/extern __shared__ float (\w+)\[\];/g, 'float* $1 = reinterpret_cast<float*>(emu::dynShared().data());');
cu = cu.replace(/(\b[A-Za-z_]\w*(?:<[^<>;(){}]*>)?)<<<([\s\S]*?)>>>\(/g, 'emuLaunch($1, $2, ');
writeFileSync(join(out, 'kernels_emu.cc'), cu);
const require = createRequire(import.meta.url);
const napiInclude = join(dirname(require.resolve('node-api-headers/package.json')), 'include');
const addonApi = dirname(require.resolve('node-addon-api/package.json'));
execFileSync(
  'g++',
  [
    '-std=c++20', '-O1', '-fPIC', '-shared', '-ffp-contract=off', '-Wno-unknown-pragmas',
    '-DBITEXIT_EMU', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DBITEXIT_CUDA_ARCHS="emulator"',
    `-I${join(root, 'test/emu')}`, `-I${join(root, 'src/native')}`, `-I${napiInclude}`, `-I${addonApi}`,
    join(root, 'src/native/addon.cc'), join(out, 'kernels_emu.cc'), '-o', addon,
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
console.log(addon);
