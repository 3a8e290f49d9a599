// The decode benchmark's programs (plain, and with device-side forced early
// exit through guarded regions and exit checks) run on the CPU reference
// backend at a tiny size: the program structure the GPU bundle times is valid
// and the forced exits happen.
import { createCpuBackend } from '@bitexit/backend-cpu';
import { describe, expect, it } from 'vitest';
import { benchDecode } from './bench.js';

const tiny = { layers: 4, dim: 64, ffn: 128, vocab: 64, heads: 4, context: 32 };

describe('decode benchmark programs (on the CPU backend)', () => {
  for (const [dtype, exit] of [
    ['f16', false],
    ['bx', false],
    ['bx', true],
  ] as const) {
    it(`${dtype}${exit ? ' + forced early exit' : ''}`, async () => {
      const b = await createCpuBackend();
      const r = await benchDecode(b, tiny, dtype, 3, () => {}, exit);
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      if (exit) expect(r.meanDepthFraction).toBeLessThan(1);
      expect(b.memoryInUse()).toBe(0);
      await b.dispose();
    });
  }
});
