// What can be checked without a GPU: the addon was built when nvcc exists,
// it loads without a driver, probe() gives a plain reason, selecting the
// backend by name fails loudly with that reason, and the bx decoding shared
// with the kernels matches the format's test vectors (host C++ test).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError, createBackend, unregisterBackend } from '@bitexit/backend';
import { describe, expect, it } from 'vitest';
import { addonPath, cudaBackendProvider, loadNative, registerCudaBackend } from './index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hasNvcc = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).status === 0;
const hasCxx = spawnSync('sh', ['-c', 'command -v g++'], { encoding: 'utf8' }).status === 0;

describe('backend-cuda addon', () => {
  it.skipIf(!hasNvcc)('was built (nvcc is on this machine)', () => {
    expect(existsSync(addonPath()), `addon missing at ${addonPath()}: run npm run build:addon`).toBe(true);
    const load = loadNative();
    expect(load.ok ? 'loaded' : load.reason).toBe('loaded');
    if (load.ok) {
      const info = load.addon.buildInfo();
      expect(info.archs).toContain('80');
      expect(info.archs).toContain('90');
    }
  });

  it('probe() answers with a plain reason or a device, never throws', async () => {
    const a = await cudaBackendProvider.probe();
    if (a.ok) {
      console.log(`[backend-cuda] CUDA available: ${a.detail}`);
      expect(a.detail.length).toBeGreaterThan(0);
    } else {
      console.log(`[backend-cuda] CUDA unavailable: ${a.reason}`);
      expect(a.reason).toMatch(/nvcc was not found|no NVIDIA driver|no CUDA device|driver too old|compute capability|failed to load|CUDA initialisation failed/);
      if (hasNvcc && loadNative().ok) expect(a.reason).not.toMatch(/nvcc/);
    }
  });

  it('selecting cuda by name fails loudly with the reason when unavailable', async () => {
    const a = await cudaBackendProvider.probe();
    if (a.ok) return;
    registerCudaBackend();
    try {
      await expect(createBackend('cuda')).rejects.toThrow(BackendUnavailableError);
      await expect(createBackend('cuda')).rejects.toThrow(a.reason);
    } finally {
      unregisterBackend('cuda');
    }
  });

  it.skipIf(!hasCxx)('bx decoding shared with the kernels matches the test vectors (host C++ test)', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'bx-host-')), 'bx_host_test');
    execFileSync('g++', ['-O1', '-std=c++17', '-Wall', '-Wno-unknown-pragmas', '-o', out, join(root, 'test/host/bx_host_test.cc')]);
    const vectors = join(root, '../../packages/format/test-vectors/bx');
    const names = ['w2', 'w3', 'w4', 'mixed-partial', 'outliers', 'second-order', 'second-order-off', 'partial-3bit', 'partial-4bit'];
    const r = spawnSync(out, [vectors, ...names], { encoding: 'utf8' });
    console.log(r.stdout.trim());
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`${names.length} passed, 0 failed`);
  });
});
