import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { openModel } from '@bitexit/engine';
import { decodeToF32 } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { calibrationSequences, HessianAccumulator, LayerRunner, type HostLayer } from './calibrate.js';
import { hessianOf, normal } from './algorithms/testing.js';

describe('HessianAccumulator', () => {
  it('full and diagonal accumulation equal 2XᵀX/n', () => {
    const x = normal(20 * 6, 3);
    const full = new HessianAccumulator(6, true);
    const diag = new HessianAccumulator(6, false);
    full.add(x.subarray(0, 12 * 6), 12);
    full.add(x.subarray(12 * 6), 8);
    diag.add(x, 20);
    const ref = hessianOf(x, 20, 6);
    const h = full.hessian();
    for (let i = 0; i < 36; i++) expect(h[i]).toBeCloseTo(ref[i]!, 10);
    const d = diag.hessian();
    for (let i = 0; i < 6; i++) expect(d[i]).toBeCloseTo(ref[i * 7]!, 10);
  });

  it('calibrationSequences cuts whole BOS-led sequences', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => 10 + i);
    const s = calibrationSequences(ids, 256, 600, 1);
    expect(s).toHaveLength(2);
    expect(s[1]![0]).toBe(1);
    expect(s[1]![1]).toBe(10 + 257);
    expect(calibrationSequences(ids.slice(0, 100), 256, 600, 1)).toHaveLength(0);
  });
});

const GGUF = fixturePath('stories260K/stories260K.gguf');

describe.skipIf(!GGUF)('LayerRunner on stories260K', () => {
  it('reads back the real input of the q/k/v projections (rmsnorm of the embeddings)', async () => {
    const src = await openModel(GGUF!);
    const be = await createCpuBackend();
    try {
      const c = src.config;
      const seq = Int32Array.from({ length: 16 }, (_, i) => (i === 0 ? 1 : 20 + 7 * i));
      const emb = await src.tensors.get('token_embd.weight')!.load();
      const runner = await LayerRunner.create(be, c, [seq], emb);
      const layer: HostLayer = new Map();
      for (const [name, e] of src.tensors) if (name.startsWith('blk.0.')) layer.set(name.slice(6), await e.load());
      const acc = (await runner.run(0, layer, { collect: 'full', advance: true }))!;
      // Host reference: x = emb[id], xb = x / rms(x) * attn_norm.
      const table = decodeToF32(emb);
      const norm = decodeToF32(layer.get('attn_norm.weight')!);
      const d = c.dim;
      const xb = new Float32Array(seq.length * d);
      seq.forEach((id, t) => {
        let ss = 0;
        for (let i = 0; i < d; i++) ss += table[id * d + i]! ** 2;
        const inv = 1 / Math.sqrt(ss / d + c.rmsEps);
        for (let i = 0; i < d; i++) xb[t * d + i] = table[id * d + i]! * inv * norm[i]!;
      });
      const ref = hessianOf(xb, seq.length, d);
      const h = acc.qkv.hessian();
      for (let i = 0; i < d * d; i += 37) expect(h[i]).toBeCloseTo(ref[i]!, 3);
      expect(acc.down.rows).toBe(16);
      expect(acc.o.k).toBe(c.nHeads * c.headDim);
      runner.dispose();
    } finally {
      await be.dispose();
      await src.close();
    }
  });
});
