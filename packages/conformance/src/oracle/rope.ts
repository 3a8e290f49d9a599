import type { RopeStyle } from '@bitexit/backend';

/**
 * rope, applied to a copy of x (n rows of heads*headDim): in every head, pair i
 * (i < ropeDim/2) rotates by angle (pos + t) * invFreq[i]. Dims >= ropeDim are
 * left unchanged.
 * - 'adjacent': the pair is (x[2i], x[2i+1]) (llama2.c, GGUF llama).
 * - 'half': the pair is (x[i], x[i + ropeDim/2]) (Hugging Face rotate_half / NeoX).
 * Rotation: (a, b) -> (a cos - b sin, a sin + b cos).
 */
export function rope(
  x: ArrayLike<number>,
  n: number,
  pos: number,
  heads: number,
  headDim: number,
  ropeDim: number,
  style: RopeStyle,
  invFreq: ArrayLike<number>,
): Float64Array {
  const width = heads * headDim;
  const out = Float64Array.from({ length: n * width }, (_, i) => x[i]);
  const half = ropeDim / 2;
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      const base = t * width + h * headDim;
      for (let i = 0; i < half; i++) {
        const angle = (pos + t) * invFreq[i];
        const cos = Math.cos(angle);
        const sin = Math.sin(angle);
        const ia = style === 'adjacent' ? base + 2 * i : base + i;
        const ib = style === 'adjacent' ? base + 2 * i + 1 : base + i + half;
        const a = out[ia];
        const b = out[ib];
        out[ia] = a * cos - b * sin;
        out[ib] = a * sin + b * cos;
      }
    }
  }
  return out;
}

/** The usual inverse frequencies theta^(-2i/ropeDim), i < ropeDim/2, as the engine would pass them. */
export function ropeInvFreq(ropeDim: number, theta = 10000): Float32Array {
  const f = new Float32Array(ropeDim / 2);
  for (let i = 0; i < ropeDim / 2; i++) f[i] = Math.pow(theta, (-2 * i) / ropeDim);
  return f;
}
