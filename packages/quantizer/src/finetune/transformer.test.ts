import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openModel } from '@bitexit/engine';
import { decodeToF32 } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { tinyModel } from './testing.js';
import { forwardBackward, klLoss, LAYER_GRAD_KEYS, logSoftmax, zeroGrads, type HostModelWeights } from './transformer.js';

describe('host transformer backward', () => {
  for (const style of ['adjacent', 'half'] as const) {
    it(`gradients match central finite differences (rope ${style})`, () => {
      const w = tinyModel(style, style === 'half' ? 100 : 1);
      const ids = [1, 4, 7, 2, 9, 3];
      const teacher = logSoftmax(forwardBackward(tinyModel(style, 50), ids).logits, 11);
      const loss = klLoss(teacher, 11, ids.length);
      const g = zeroGrads(w);
      forwardBackward(w, ids, loss, g);
      const lossAt = () => forwardBackward(w, ids, loss, zeroGrads(w)).loss;
      const probes: [Float32Array, Float32Array][] = [];
      for (const l of [0, 1]) for (const k of LAYER_GRAD_KEYS) probes.push([w.layers[l]![k], g.layers[l]![k]]);
      probes.push([w.outputNorm, g.outputNorm]);
      let checked = 0;
      for (const [param, grad] of probes) {
        for (const i of [0, Math.floor(param.length / 2), param.length - 1]) {
          const keep = param[i]!;
          const h = 1e-2;
          param[i] = keep + h;
          const up = lossAt();
          param[i] = keep - h;
          const down = lossAt();
          param[i] = keep;
          const numeric = (up - down) / (2 * h);
          // f32 forward: compare with an absolute floor.
          expect(Math.abs(grad[i]! - numeric)).toBeLessThan(2e-3 + 0.03 * Math.abs(numeric));
          checked++;
        }
      }
      expect(checked).toBe(3 * (2 * LAYER_GRAD_KEYS.length + 1));
      // The gradients are not trivially zero.
      expect(g.layers[0]!.wq.some((v) => Math.abs(v) > 1e-4)).toBe(true);
    });
  }
});

const GGUF = fixturePath('stories260K/stories260K.gguf');
describe.skipIf(!GGUF)('host transformer vs the engine', () => {
  it('computes the engine CPU backend logits on stories260K', async () => {
    if (!GGUF) return;
    const src = await openModel(GGUF);
    const f = async (n: string) => decodeToF32(await src.tensors.get(n)!.load());
    const c = src.config;
    const embedding = await f('token_embd.weight');
    const layers = [];
    for (let l = 0; l < c.nLayers; l++) {
      const p = `blk.${l}.`;
      layers.push({
        attnNorm: await f(p + 'attn_norm.weight'),
        ffnNorm: await f(p + 'ffn_norm.weight'),
        wq: await f(p + 'attn_q.weight'),
        wk: await f(p + 'attn_k.weight'),
        wv: await f(p + 'attn_v.weight'),
        wo: await f(p + 'attn_output.weight'),
        wGate: await f(p + 'ffn_gate.weight'),
        wUp: await f(p + 'ffn_up.weight'),
        wDown: await f(p + 'ffn_down.weight'),
      });
    }
    const w: HostModelWeights = {
      config: c,
      embedding,
      output: src.tensors.has('output.weight') ? await f('output.weight') : embedding,
      outputNorm: await f('output_norm.weight'),
      layers,
    };
    const ids = [1, 403, 407, 261, 378, 395, 300, 423, 269, 1, 33, 87, 300, 299, 450, 302, 11];
    const ours = forwardBackward(w, ids).logits;
    const model = await loadModel(src, { backend: await createCpuBackend(), contextLength: 64 });
    try {
      const rows = await model.logits(ids);
      let maxErr = 0;
      rows.forEach((r, t) => r.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - ours[t * c.vocabSize + i]!)))));
      expect(maxErr).toBeLessThan(1e-3);
    } finally {
      await model.dispose();
      await src.close();
    }
  });
});
