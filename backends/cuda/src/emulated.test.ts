// The conformance suite on the real addon and kernels compiled for the host
// CUDA emulator (test/emu/cuda_emu.h, scripts/build-emu.mjs): checks the
// kernels' numerics, the addon's program/graph/readback logic and the
// TypeScript backend end to end on machines without a GPU. It says nothing
// about performance, and warp-level timing (races) is not modelled.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConformanceSuite } from '@bitexit/conformance';
import { describe, expect, it } from 'vitest';
import { cudaProviderForAddon } from './index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hasCxx = spawnSync('sh', ['-c', 'command -v g++'], { encoding: 'utf8' }).status === 0;

if (!hasCxx) {
  console.warn('[backend-cuda] g++ not found: the emulated CUDA conformance run is skipped');
  describe.skip('conformance: cuda (host emulation)', () => it('needs g++', () => {}));
} else {
  const addon = execFileSync(process.execPath, [join(root, 'scripts/build-emu.mjs')], { encoding: 'utf8' }).trim().split('\n').pop()!;
  defineConformanceSuite({
    provider: cudaProviderForAddon(addon, 'CUDA backend on the host CUDA emulator (tests only)'),
    // Whole models take minutes each on the emulator (every GPU thread is a coroutine); the ops,
    // programs, errors and early-exit tests cover the kernels in seconds. (Measured once: the
    // stories260K GGUF logits golden passes on the emulator in 59 s.)
    models: false,
  });
}

// Paths the conformance shapes do not reach: split-K (many slots, few rows), batches of more
// than 8 rows (the T = 8 chunk loop), 128-bit loads on wide rows; the emulated CUDA backend
// against the CPU reference on the same synthetic weights.
describe.skipIf(!hasCxx)('emulated CUDA vs CPU on wide products', () => {
  it('bx [8, 8192] (split-K), bx test vectors with outliers, f16 [40, 1024]: 1, 5 rows (matvec), 11, 40 rows (tiled prefill)', async () => {
    const { readFileSync } = await import('node:fs');
    const vector = (name: string) => new Uint8Array(readFileSync(join(root, '../../packages/format/test-vectors/bx', `${name}.bin`)));
    const { createCpuBackend } = await import('@bitexit/backend-cpu');
    const { syntheticBx, syntheticF16 } = await import('../gpu/synthetic.js');
    const addon = execFileSync(process.execPath, [join(root, 'scripts/build-emu.mjs')], { encoding: 'utf8' }).trim().split('\n').pop()!;
    const gpu = await cudaProviderForAddon(addon, 'emu').create();
    const cpu = await createCpuBackend();
    const cases: [string, 'bx' | 'f16', number, number, Uint8Array][] = [
      ['bx', 'bx', 8, 8192, syntheticBx(8, 8192, 3)],
      ['f16', 'f16', 40, 1024, syntheticF16(40, 1024, 4)],
      // Format test vectors with ELL outliers (C = 3), a partial 3-bit group and second order.
      ['bx-outliers', 'bx', 4, 96, vector('outliers')],
      ['bx-partial-3bit', 'bx', 3, 40, vector('partial-3bit')],
    ];
    for (const [name, dtype, N, K, data] of cases) {
      for (const rows of [1, 5, 11, 40]) {
        const x = new Float32Array(rows * K).map((_, i) => Math.sin(i * 0.61) * 0.5);
        const outs: Float32Array[] = [];
        for (const b of [gpu, cpu]) {
          const w = await b.uploadWeight({ name, dtype, shape: [N, K], data } as never);
          const xb = b.createBuffer('f32', [rows, K], 'x');
          const ob = b.createBuffer('f32', [rows, N], 'out');
          const p = b.compile({ label: `${name}-${rows}`, maxRows: rows, ops: [{ kind: 'matmul', x: xb, weight: w, out: ob }], outputs: [{ buffer: ob, rows: 'active' }] });
          const [o] = await b.run(p, { pos: 0, n: rows, inputs: [{ buffer: xb, data: x }] });
          outs.push(o as Float32Array);
          b.release(p);
          b.release(w);
          b.release(xb);
          b.release(ob);
        }
        const [g, c] = outs;
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < c.length; i++) {
          worst = Math.max(worst, Math.abs(g[i] - c[i]));
          scale = Math.max(scale, Math.abs(c[i]));
        }
        expect(worst / scale, `${name} rows ${rows}: max |gpu - cpu| ${worst} over max |cpu| ${scale}`).toBeLessThan(1e-4);
      }
    }
    await gpu.dispose();
    await cpu.dispose();
  });
});
