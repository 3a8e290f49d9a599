/** last_row: the last active row (row n-1) of x. */
export function lastRow(x: ArrayLike<number>, n: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let c = 0; c < cols; c++) out[c] = x[(n - 1) * cols + c];
  return out;
}

/** argmax: index of the largest of the first `cols` values; the lowest index wins ties. */
export function argmax(x: ArrayLike<number>, cols: number): number {
  let best = 0;
  for (let c = 1; c < cols; c++) if (x[c] > x[best]) best = c;
  return best;
}
