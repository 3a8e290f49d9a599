#!/usr/bin/env node
/**
 * Single-matrix timings at 7B shapes: each per-matrix stage of `quantize`, the
 * current (fast) implementation against the straightforward one it replaced
 * (src/algorithms/reference.ts, bit-identical results), on a slice of rows
 * where the old one would take too long (times are per row and scale linearly
 * in rows; the Cholesky part does not depend on rows).
 *
 *   npx vite-node -c vitest.config.ts bench/scale-micro.mjs -- --rows 4096 --cols 4096 [--tokens 256] [--slice 64] [--ref-chol] [--json out.json]
 *
 * Stages: hessian accumulation (XᵀX over the calibration tokens), clipping
 * search per width (fitMatrix), GPTQ's factor upperCholeskyOfInverse(H), the
 * GPTQ sweep, refitScales and hessianError (matrix.ts's against refit.ts's).
 */
import { writeFileSync } from 'node:fs';
import { HessianAccumulator } from '../src/calibrate.ts';
import { BxCodec } from '../src/codec.ts';
import { gptqQuantize } from '../src/algorithms/gptq.ts';
import { upperCholeskyOfInverse } from '../src/algorithms/linalg.ts';
import { refitScales, hessianError } from '../src/algorithms/matrix.ts';
import { refFitGroup, refGptqQuantize, refUpperCholeskyOfInverse } from '../src/algorithms/reference.ts';
import { hessianErrorBlocked, refitScalesBlocked } from '../src/algorithms/refit.ts';
import { dequantize, fitMatrix, quantizeRtn } from '../src/algorithms/rtn.ts';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const rows = Number(opt('--rows', 4096));
const cols = Number(opt('--cols', 4096));
const T = Number(opt('--tokens', 256));
const slice = Math.min(rows, Number(opt('--slice', 64)));
const G = 64;
const skip = new Set(String(opt('--skip', '')).split(','));

let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed + 0.5) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
const w = new Float32Array(rows * cols);
for (let i = 0; i < w.length; i++) w[i] = 0.02 * normal();
// Activations with uneven channel scales (a few loud ones), like a real layer's inputs.
const x = new Float32Array(T * cols);
for (let t = 0; t < T; t++) for (let k = 0; k < cols; k++) x[t * cols + k] = normal() * (k % 97 === 0 ? 8 : 1 + (k % 13) / 13);

const out = { rows, cols, tokens: T, slice, seconds: {} };
const time = (label, f) => {
  const t0 = performance.now();
  const r = f();
  const s = (performance.now() - t0) / 1000;
  out.seconds[label] = Math.round(s * 1000) / 1000;
  console.error(`${label.padEnd(44)} ${s.toFixed(2)} s   rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
  return r;
};

const acc = new HessianAccumulator(cols, true);
time('hessian accumulate (full, all tokens)', () => acc.add(x, T));
const h = acc.hessian();
const hdiag = acc.diagonal();
const groups = cols / G;
const widths = new Uint8Array(groups).map((_, g) => [2, 3, 4][g % 3]);
const codec = new BxCodec({ groupSize: G, secondOrder: true, scaleBits: 8 });
const ws = w.subarray(0, slice * cols);

// Clipping search (one width per group, as pass 2 does; pass 1 does it at 3 widths).
if (!skip.has('fit')) {
  time(`fitMatrix new (${slice} rows)`, () => fitMatrix(ws, slice, cols, G, widths, hdiag));
  time(`fitMatrix old (${slice} rows)`, () => {
    for (let r = 0; r < slice; r++) for (let g = 0; g < groups; g++) refFitGroup(ws, r * cols, g * G, g * G + G, hdiag, widths[g]);
  });
  const ones = new Float64Array(cols).fill(1);
  time(`fitMatrix new, H = I (${slice} rows)`, () => fitMatrix(ws, slice, cols, G, widths, ones));
  time(`fitMatrix old, H = I (${slice} rows)`, () => {
    for (let r = 0; r < slice; r++) for (let g = 0; g < groups; g++) refFitGroup(ws, r * cols, g * G, g * G + G, ones, widths[g]);
  });
}

const fitted = fitMatrix(w, rows, cols, G, widths, hdiag, { clipGrid: skip.has('fit') ? [0] : undefined });
const params = codec.represent({ rows, groups, scales: fitted.scales, zeros: fitted.zeros }, widths);
const damped = () => {
  const a = Float64Array.from(h);
  let md = 0;
  for (let k = 0; k < cols; k++) md += a[k * cols + k];
  md /= cols;
  for (let k = 0; k < cols; k++) a[k * cols + k] += 0.01 * md;
  return a;
};
if (!skip.has('chol')) {
  time('upperCholeskyOfInverse new', () => upperCholeskyOfInverse(damped(), cols));
  if (args.includes('--ref-chol')) time('upperCholeskyOfInverse old', () => refUpperCholeskyOfInverse(damped(), cols));
}
const p = { ...params, rows: slice, scales: params.scales.subarray(0, slice * groups), zeros: params.zeros.subarray(0, slice * groups) };
let r1 = { codes: quantizeRtn(ws, slice, cols, G, widths, p) };
if (!skip.has('gptq')) {
  r1 = time(`gptq new, factor + sweep (${slice} rows)`, () => gptqQuantize({ w: ws, rows: slice, cols, groupSize: G, widths, params: p, h }, { actOrder: true }));
  time(`gptq new, cached factor, sweep (${slice} rows)`, () => gptqQuantize({ w: ws, rows: slice, cols, groupSize: G, widths, params: p, h }, { actOrder: true }));
  if (rows > slice) time(`gptq new, cached factor, sweep (${rows} rows)`, () => gptqQuantize({ w, rows, cols, groupSize: G, widths, params, h }, { actOrder: true }));
  if (args.includes('--ref-gptq')) {
    const r0 = time(`gptq old, factor + sweep (${slice} rows)`, () => refGptqQuantize({ w: ws, rows: slice, cols, groupSize: G, widths, params: p, h }, { actOrder: true }));
    out.gptq_identical = Buffer.from(r0.codes).equals(Buffer.from(r1.codes)) && r0.loss === r1.loss;
  }
}
{
  if (!skip.has('refit')) {
    const rs = Math.min(slice, Number(opt('--refit-rows', 16)));
    const wr = w.subarray(0, rs * cols);
    const pr = { ...p, rows: rs, scales: p.scales.subarray(0, rs * groups), zeros: p.zeros.subarray(0, rs * groups) };
    const cr = r1.codes.subarray(0, rs * cols);
    const none = { rows: [], cols: [], values: [] };
    const a = time(`refitScales blocked (${rs} rows)`, () => refitScalesBlocked(wr, rs, cols, G, cr, pr, none, h));
    const b = time(`refitScales matrix.ts (${rs} rows)`, () => refitScales(wr, rs, cols, G, cr, pr, none, h));
    const wq = dequantize(cr, rs, cols, G, pr);
    const e1 = time(`hessianError blocked (${rs} rows)`, () => hessianErrorBlocked(wr, wq, rs, cols, h));
    const e2 = time(`hessianError matrix.ts (${rs} rows)`, () => hessianError(wr, wq, rs, cols, h));
    out.refit_identical = Buffer.from(a.buffer).equals(Buffer.from(b.buffer)) && e1 === e2;
  }
}
console.log(JSON.stringify(out));
if (opt('--json')) writeFileSync(opt('--json'), JSON.stringify(out, null, 1) + '\n');
