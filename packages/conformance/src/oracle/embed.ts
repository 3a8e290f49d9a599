/**
 * embed: out[t] = table[ids[t]] for t < n.
 * `table` is the dequantised [vocab, dim] weight in row-major float64.
 */
export function embed(table: Float64Array, vocab: number, dim: number, ids: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * dim);
  for (let t = 0; t < n; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`oracle embed: id ${id} outside 0..${vocab - 1}`);
    for (let c = 0; c < dim; c++) out[t * dim + c] = table[id * dim + c];
  }
  return out;
}
