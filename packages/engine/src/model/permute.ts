import type { HostTensor } from '@bitexit/format';
import { ModelFormatError } from '@bitexit/format';

/**
 * RoPE layout conversion of Q/K projection rows.
 *
 * Hugging Face Llama/Mistral/Qwen2 rotate halves: within each head, dim i
 * pairs with dim i + d/2. llama.cpp's `llama` architecture (and llama2.c)
 * rotate adjacent pairs (2i, 2i+1). The two are the same model up to a
 * permutation of each head's output rows, which is exactly llama.cpp's
 * convert_hf_to_gguf.py `LlamaModel.permute`:
 *
 *   w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)
 *
 * i.e. new row h*d + 2i + j = old row h*d + j*(d/2) + i (j ∈ {0, 1}).
 * Only the first `ropeDim` rows of each head take part (equal to llama.cpp's
 * whole-head permutation when ropeDim = headDim, the only case its Llama
 * converter handles); the rest keep their place.
 */
export function halfToAdjacentRowOrder(heads: number, headDim: number, ropeDim = headDim): Int32Array {
  const order = new Int32Array(heads * headDim);
  const half = ropeDim / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let i = 0; i < half; i++) {
      order[base + 2 * i] = base + i;
      order[base + 2 * i + 1] = base + half + i;
    }
    for (let r = ropeDim; r < headDim; r++) order[base + r] = base + r;
  }
  return order;
}

/** The inverse order: adjacent-pair layout back to rotate-half. */
export function adjacentToHalfRowOrder(heads: number, headDim: number, ropeDim = headDim): Int32Array {
  const fwd = halfToAdjacentRowOrder(heads, headDim, ropeDim);
  const inv = new Int32Array(fwd.length);
  for (let i = 0; i < fwd.length; i++) inv[fwd[i]] = i;
  return inv;
}

/**
 * Returns a copy of `t` whose row r is row order[r] of `t` (rows = the
 * outermost dimension; a 1-D bias is a column of 1-element rows). Works on
 * raw bytes, so any dtype whose rows are whole byte runs (f32, f16, bf16,
 * q8_0) is permuted exactly, without rounding.
 */
export function permuteRows(t: HostTensor, order: Int32Array, file = t.name): HostTensor {
  const rows = t.shape[0];
  if (rows !== order.length) {
    throw new ModelFormatError(file, `cannot permute tensor '${t.name}': ${rows} rows but the head layout has ${order.length}`);
  }
  if (t.data.byteLength % rows !== 0) {
    throw new ModelFormatError(file, `cannot permute tensor '${t.name}': ${t.data.byteLength} bytes are not whole rows`);
  }
  const rowBytes = t.data.byteLength / rows;
  const out = new Uint8Array(t.data.byteLength);
  for (let r = 0; r < rows; r++) {
    const src = order[r] * rowBytes;
    out.set(t.data.subarray(src, src + rowBytes), r * rowBytes);
  }
  return { name: t.name, dtype: t.dtype, shape: [...t.shape], data: out };
}
