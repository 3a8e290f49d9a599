import type { ModelConfig } from '../model/types.js';

/**
 * Inverse frequencies of the rotary embedding, one per rotated pair, with the
 * model's rope scaling folded in (so backends only ever see plain frequencies).
 * Computed like llama2.c/llama.cpp: 1 / theta^(2i / ropeDim), rounded to f32.
 */
export function ropeInvFreq(config: Pick<ModelConfig, 'ropeDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const half = config.ropeDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / config.ropeDim);
  const s = config.ropeScaling;
  if (!s) return out;
  if (s.type === 'linear') {
    for (let i = 0; i < half; i++) out[i] = out[i]! / s.factor;
    return out;
  }
  // Llama 3: keep high frequencies, divide low ones by `factor`, blend in between
  // (transformers' _compute_llama3_parameters).
  const lowWavelen = s.originalContextLength / s.lowFreqFactor;
  const highWavelen = s.originalContextLength / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const freq = out[i]!;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      out[i] = freq / s.factor;
    } else {
      const smooth = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = (1 - smooth) * (freq / s.factor) + smooth * freq;
    }
  }
  return out;
}
