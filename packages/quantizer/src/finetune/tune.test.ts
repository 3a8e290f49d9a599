import { describe, expect, it } from 'vitest';
import { dequantizeMatrix, quantizeMatrix } from '../algorithms/matrix.js';
import { rng } from '../algorithms/testing.js';
import { tinyModel } from './testing.js';
import { LAYER_GRAD_KEYS } from './transformer.js';
import { finetuneQuantized, type TunedMatrix } from './tune.js';

describe('finetuneQuantized', () => {
  it('lowers the held-out KL of a 2-bit model, keeps codes, and returns its best epoch', () => {
    const teacher = tinyModel('half', 3);
    const student = tinyModel('half', 3);
    const matrices: TunedMatrix[] = [];
    for (const [l, layer] of student.layers.entries()) {
      for (const key of LAYER_GRAD_KEYS) {
        if (key === 'attnNorm' || key === 'ffnNorm') continue;
        const w = layer[key];
        const cols = key === 'wDown' ? 12 : 8;
        const rows = w.length / cols;
        const q = quantizeMatrix(w, rows, cols, { groupSize: 32, widths: Uint8Array.of(2), hessian: null, hdiag: new Float64Array(cols).fill(1) });
        layer[key] = dequantizeMatrix(q);
        matrices.push({ layer: l, key, q });
      }
    }
    const r = rng(9);
    const seq = () => Int32Array.from({ length: 12 }, () => Math.floor(r() * 11));
    const train = Array.from({ length: 6 }, seq);
    const validation = [seq(), seq()];
    const epochs: number[] = [];
    const res = finetuneQuantized(teacher, student, matrices, { train, validation, epochs: 6, lr: 0.02, batch: 2, norms: true, codeLr: 0, onEpoch: (e) => epochs.push(e.validation) });
    expect(epochs).toHaveLength(6);
    expect(res.before).toBeGreaterThan(0);
    expect(res.after).toBeLessThan(res.before * 0.9);
    expect(res.after).toBe(Math.min(res.before, ...epochs));
    expect(res.keptEpoch).toBe(epochs.indexOf(res.after) + 1);
    expect(res.scales).toHaveLength(matrices.length);
    expect(res.scales.some((s, i) => s.some((v, j) => v !== matrices[i]!.q.scales[j]))).toBe(true);
    expect(res.scales.every((s) => s.every((v) => v > 0 && Number.isFinite(v)))).toBe(true);
    expect(res.outputNorm.some((v, j) => v !== teacher.outputNorm[j])).toBe(true);
  });
});
