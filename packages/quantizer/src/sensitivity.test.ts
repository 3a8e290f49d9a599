import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { openModel } from '@bitexit/engine';
import { decodeToF32 } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { f32Tensor } from './calibrate.js';
import { KlProbe } from './sensitivity.js';

const GGUF = fixturePath('stories260K/stories260K.gguf');

describe.skipIf(!GGUF)('KlProbe on stories260K', () => {
  it('is 0 for the unchanged model and grows with the perturbation', async () => {
    const backend = await createCpuBackend();
    const src = await openModel(GGUF!);
    try {
      const seq = Int32Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 37) % 400)));
      const probe = await KlProbe.create(backend, src, src.config, (n) => src.tensors.get(n)!.load(), [seq]);
      expect(probe.tokens).toBe(64);
      expect(await probe.kl(new Map())).toBeLessThan(1e-9);
      const name = 'blk.2.attn_v.weight';
      const w = decodeToF32(await src.tensors.get(name)!.load());
      const shape = src.tensors.get(name)!.shape;
      const noisy = (eps: number) => f32Tensor(name, shape, Float32Array.from(w, (x, i) => x * (1 + eps * Math.sin(i * 12.9898))));
      const small = await probe.kl(new Map([[name, noisy(0.05)]]));
      const large = await probe.kl(new Map([[name, noisy(0.5)]]));
      expect(small).toBeGreaterThan(0);
      expect(large).toBeGreaterThan(5 * small);
    } finally {
      await src.close();
      await backend.dispose();
    }
  });
});
