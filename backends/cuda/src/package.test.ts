/**
 * `npm i @bitexit/backend-cuda` from the registry: what the tarball holds,
 * that its install script builds the addon or says in one line why not, and
 * that probe() then names a command that exists in an installed package
 * (`npm rebuild @bitexit/backend-cuda` reruns the install script). The
 * package is packed with `npm pack` and unpacked into a temporary project
 * whose other dependencies are linked from the workspace (no network).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const rootModules = join(pkgDir, '..', '..', 'node_modules');
const built = existsSync(join(pkgDir, 'dist', 'index.js'));
if (!built) console.warn('[bitexit] skipping the packed-package test: backends/cuda/dist is not built (npx tsup)');

const tmp = mkdtempSync(join(tmpdir(), 'bitexit-cuda-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!built)('the packed @bitexit/backend-cuda', () => {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: pkgDir, encoding: 'utf8' }),
  ) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  const project = join(tmp, 'project');
  const installed = join(project, 'node_modules', '@bitexit', 'backend-cuda');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(tmp, packed[0]!.filename), '-C', installed, '--strip-components=1']);
  for (const dep of ['@bitexit/backend', '@bitexit/format', 'cmake-js', 'node-addon-api', 'node-api-headers']) {
    mkdirSync(dirname(join(project, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(rootModules, dep), join(project, 'node_modules', dep));
  }
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  it('ships what the addon build needs, and no build output', () => {
    for (const f of ['package.json', 'README.md', 'CMakeLists.txt', 'scripts/build-addon.mjs', 'src/native/addon.cc', 'src/native/kernels.cu', 'src/native/bx.h', 'src/native/ops.h', 'dist/index.js', 'dist/index.cjs']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('build/'))).toEqual([]);
    expect(manifest.scripts.install).toBe('node scripts/build-addon.mjs --install');
  });

  it('without nvcc the install script exits 0 with one line saying why, and probe() names `npm rebuild`', () => {
    // A PATH with node and sh only: no nvcc, whatever this machine has.
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
    delete env.CUDACXX;
    delete env.CUDA_HOME;
    delete env.BITEXIT_CUDA_SKIP_BUILD;
    const install = spawnSync('/bin/sh', ['-c', manifest.scripts.install!], { cwd: installed, env, encoding: 'utf8', timeout: 60_000 });
    expect(install.status, install.stderr).toBe(0);
    expect(install.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(install.stdout).toMatch(/^backend-cuda: nvcc not found, the CUDA addon is not built .*`npm rebuild @bitexit\/backend-cuda`/);

    const probe = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "const { cudaBackendProvider } = await import('@bitexit/backend-cuda'); console.log(JSON.stringify(await cudaBackendProvider.probe()))"],
      { cwd: project, encoding: 'utf8', timeout: 60_000 },
    );
    expect(probe.status, probe.stderr).toBe(0);
    const a = JSON.parse(probe.stdout) as { ok: boolean; reason?: string };
    expect(a.ok).toBe(false);
    expect(a.reason).toMatch(/nvcc was not found at install time .*`npm rebuild @bitexit\/backend-cuda`/);
    expect(a.reason).not.toMatch(/npm run/);
    // The command it names exists: npm rebuild runs the package's install script.
    expect(manifest.scripts.install).toBeDefined();
  });
});
