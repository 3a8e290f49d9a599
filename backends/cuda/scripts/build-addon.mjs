#!/usr/bin/env node
// Builds the CUDA addon with cmake-js when nvcc and cmake are available, and
// otherwise records why it was not built (the package still installs; probe()
// then reports the reason) and says so in one line.
//
// `npm run build` (in the repository) runs it strictly: a compile error with
// nvcc present fails the build, so CI catches kernels that do not compile.
// `--install` is the package's npm install script (`npm i @bitexit/backend-cuda`,
// `npm rebuild @bitexit/backend-cuda`): a failed compile is recorded and
// reported, but never fails the user's install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const installing = process.argv.includes('--install');
/** The command that reruns this script in an installed package. */
const REBUILD = 'npm rebuild @bitexit/backend-cuda';
const statusFile = join(root, 'build', 'addon-status.json');

function findNvcc() {
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  const which = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) candidates.push(which.stdout.trim());
  if (process.env.CUDA_HOME) candidates.push(join(process.env.CUDA_HOME, 'bin', 'nvcc'));
  return candidates.find((p) => existsSync(p));
}

function writeStatus(status) {
  mkdirSync(dirname(statusFile), { recursive: true });
  writeFileSync(statusFile, JSON.stringify(status, null, 2) + '\n');
}

if (process.env.BITEXIT_CUDA_SKIP_BUILD === '1') {
  writeStatus({ built: false, reason: 'built without CUDA: BITEXIT_CUDA_SKIP_BUILD=1 at install time' });
  console.log('backend-cuda: addon build skipped (BITEXIT_CUDA_SKIP_BUILD=1)');
  process.exit(0);
}
const nvcc = findNvcc();
if (!nvcc) {
  writeStatus({ built: false, reason: `built without CUDA: nvcc was not found at install time (install the CUDA toolkit and cmake, then run \`${REBUILD}\`)` });
  console.log(`backend-cuda: nvcc not found, the CUDA addon is not built (install the CUDA toolkit and cmake, then run \`${REBUILD}\`)`);
  process.exit(0);
}
const cmake = spawnSync('sh', ['-c', 'command -v cmake'], { encoding: 'utf8' });
if (cmake.status !== 0 || !cmake.stdout.trim()) {
  writeStatus({ built: false, reason: `built without CUDA: cmake was not found at install time (install cmake 3.24+, then run \`${REBUILD}\`)` });
  console.log(`backend-cuda: cmake not found, the CUDA addon is not built (install cmake 3.24+, then run \`${REBUILD}\`)`);
  process.exit(0);
}
const cmakeJs = join(dirname(fileURLToPath(import.meta.resolve('cmake-js/package.json'))), 'bin', 'cmake-js');
const started = Date.now();
console.log(`backend-cuda: building the CUDA addon with ${nvcc}`);
try {
  execFileSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn', `--CDCMAKE_CUDA_COMPILER=${nvcc}`], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CUDACXX: nvcc },
  });
} catch (e) {
  writeStatus({ built: false, reason: `the CUDA addon failed to compile at install time (see the output of \`${REBUILD}\`): ${e.message.split('\n')[0]}` });
  console.error(`backend-cuda: the CUDA addon failed to compile${installing ? ' (the package is installed without it; the backend reports it as unavailable)' : ''}`);
  process.exit(installing ? 0 : 1);
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
writeStatus({ built: true, nvcc, seconds: Number(seconds), addon: 'build/Release/bitexit_cuda.node' });
console.log(`backend-cuda: addon built in ${seconds} s`);
