/**
 * WGSL bodies of every op. Each builder returns the pieces `assemble` needs
 * plus the grid as a function of the run's active rows (dispatch sizes are
 * recorded per run; bind groups and pipelines are built once at compile).
 */
import type { WeightDType } from '@bitexit/format';
import { LINEAR_WG, ROWS_FN, reduceArgs, type Features, type ParamField, type RoleBinding, type WeightBinding } from './wgsl.js';

export interface KernelSource {
  name: string;
  params: ParamField[];
  roles: RoleBinding[];
  weights: WeightBinding[];
  body: string;
  reduceWG?: number;
  /** Workgroup grid for a run with `n` active rows at `pos`; null skips the dispatch. */
  grid(n: number, pos: number): [number, number, number] | null;
}

export const MAX_WG_X = 65535;

/** 1-D count of workgroups laid out as x (≤ 65535) × y. */
export function grid1(count: number): [number, number, number] | null {
  if (count <= 0) return null;
  if (count <= MAX_WG_X) return [count, 1, 1];
  return [MAX_WG_X, Math.ceil(count / MAX_WG_X), 1];
}

const EW_ENTRY = '@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32)';

function rowsOf(fixed: number | undefined, n: number): number {
  return fixed ?? n;
}

export function elementwise(kind: 'add' | 'silu_mul', cols: number, fixed: number | undefined, roles: RoleBinding[]): KernelSource {
  const expr = kind === 'add' ? 'R_a[i] + R_b[i]' : '(R_a[i] / (1.0 + exp(-R_a[i]))) * R_b[i]';
  return {
    name: kind,
    params: [['fixedRows', 'u32', fixed ?? 0], ['cols', 'u32', cols]],
    roles,
    weights: [],
    body: `${ROWS_FN}
${EW_ENTRY} {
  ${LINEAR_WG}
  let i = wgi * 256u + lid;
  if (i >= rows() * prm.cols) { return; }
  R_out[i] = ${expr};
}`,
    grid: (n) => grid1(Math.ceil((rowsOf(fixed, n) * cols) / 256)),
  };
}

export function kvStore(kw: number, vw: number, roles: RoleBinding[]): KernelSource {
  const w = Math.max(kw, vw);
  return {
    name: 'kv_store',
    params: [['kw', 'u32', kw], ['vw', 'u32', vw], ['w', 'u32', w]],
    roles,
    weights: [],
    body: `${EW_ENTRY} {
  ${LINEAR_WG}
  let i = wgi * 256u + lid;
  let t = i / prm.w;
  let c = i % prm.w;
  if (t >= run.n) { return; }
  if (c < prm.kw) { R_kc[(run.pos + t) * prm.kw + c] = R_k[t * prm.kw + c]; }
  if (c < prm.vw) { R_vc[(run.pos + t) * prm.vw + c] = R_v[t * prm.vw + c]; }
}`,
    grid: (n) => grid1(Math.ceil((n * w) / 256)),
  };
}

export function lastRow(cols: number, roles: RoleBinding[]): KernelSource {
  return {
    name: 'last_row',
    params: [['cols', 'u32', cols]],
    roles,
    weights: [],
    body: `${EW_ENTRY} {
  ${LINEAR_WG}
  let c = wgi * 256u + lid;
  if (c >= prm.cols) { return; }
  R_out[c] = R_x[(run.n - 1u) * prm.cols + c];
}`,
    grid: () => grid1(Math.ceil(cols / 256)),
  };
}

/** rope with the per-run cos/sin table (R_cs: [t][i] = (cos, sin), computed on the host in f64 and rounded as the CPU does). */
export function rope(heads: number, headDim: number, ropeDim: number, adjacent: boolean, roles: RoleBinding[]): KernelSource {
  const half = ropeDim / 2;
  const per = heads * half;
  return {
    name: 'rope',
    params: [['heads', 'u32', heads], ['hd', 'u32', headDim], ['half', 'u32', half], ['per', 'u32', per]],
    roles,
    weights: [],
    body: `${EW_ENTRY} {
  ${LINEAR_WG}
  let idx = wgi * 256u + lid;
  let t = idx / prm.per;
  if (t >= run.n) { return; }
  let r = idx % prm.per;
  let h = r / prm.half;
  let i = r % prm.half;
  let c = R_cs[(t * prm.half + i) * 2u];
  let s = R_cs[(t * prm.half + i) * 2u + 1u];
  let base = t * prm.heads * prm.hd + h * prm.hd;
  ${adjacent ? 'let a = base + 2u * i; let b = a + 1u;' : 'let a = base + i; let b = a + prm.half;'}
  let x0 = R_x[a];
  let x1 = R_x[b];
  R_x[a] = x0 * c - x1 * s;
  R_x[b] = x0 * s + x1 * c;
}`,
    grid: (n) => grid1(Math.ceil((n * per) / 256)),
  };
}

/** embed for one row chunk of the table [rowStart, rowStart + rowCount). */
export function embed(dim: number, vocab: number, rowStart: number, rowCount: number, dtype: WeightDType, bxParams: ParamField[], roles: RoleBinding[]): KernelSource {
  const read = dtype === 'bx' ? 'wt_exact(id - prm.rowStart, c)' : 'wt_at((id - prm.rowStart) * prm.D + c)';
  return {
    name: 'embed',
    params: [['D', 'u32', dim], ['V', 'u32', vocab], ['rowStart', 'u32', rowStart], ['rowCount', 'u32', rowCount], ...bxParams],
    roles,
    weights: [{ name: 'wt', dtype }],
    body: `${EW_ENTRY} {
  ${LINEAR_WG}
  let i = wgi * 256u + lid;
  let t = i / prm.D;
  let c = i % prm.D;
  if (t >= run.n) { return; }
  let sid = R_ids[t];
  if (sid < 0 || u32(sid) >= prm.V) {
    // Out-of-vocabulary ids (refused on the host when they come from run inputs) give a zero row.
    if (prm.rowStart == 0u) { R_out[i] = 0.0; }
    return;
  }
  let id = u32(sid);
  if (id < prm.rowStart || id >= prm.rowStart + prm.rowCount) { return; }
  R_out[i] = ${read};
}`,
    grid: (n) => grid1(Math.ceil((n * dim) / 256)),
  };
}

export function rmsnorm(cols: number, eps: number, fixed: number | undefined, dtype: WeightDType, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  return {
    name: 'rmsnorm',
    params: [['fixedRows', 'u32', fixed ?? 0], ['cols', 'u32', cols], ['eps', 'f32', eps]],
    roles,
    weights: [{ name: 'wn', dtype }],
    reduceWG: 256,
    body: `${ROWS_FN}
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  let t = wid.x;
  if (t >= rows()) { return; }
  let D = prm.cols;
  let o = t * D;
  var ss = 0.0;
  for (var j = lid; j < D; j += 256u) { let v = R_x[o + j]; ss += v * v; }
  ss = wg_sum(ss, lid, ${ra.sgi}, ${ra.sgs});
  let inv = 1.0 / sqrt(ss / f32(D) + prm.eps);
  for (var j = lid; j < D; j += 256u) { R_out[o + j] = wn_at(j) * (inv * R_x[o + j]); }
}`,
    grid: (n) => [rowsOf(fixed, n), 1, 1],
  };
}

interface MatmulShape {
  N: number;
  K: number;
  rowStart: number;
  rowCount: number;
  fixed: number | undefined;
  dtype: WeightDType;
  bias: WeightDType | null;
  bxParams: ParamField[];
}

function matmulParams(s: MatmulShape): ParamField[] {
  return [
    ['fixedRows', 'u32', s.fixed ?? 0],
    ['N', 'u32', s.N],
    ['K', 'u32', s.K],
    ['rowStart', 'u32', s.rowStart],
    ['rowCount', 'u32', s.rowCount],
    ...s.bxParams,
  ];
}

function matmulWeights(s: MatmulShape): WeightBinding[] {
  const w: WeightBinding[] = [{ name: 'wt', dtype: s.dtype }];
  if (s.bias) w.push({ name: 'wb', dtype: s.bias });
  return w;
}

/** The weight element of chunk-relative row r at column k (bx: quantized part only, outliers added in the epilogue). */
function wElem(dtype: WeightDType, r: string, k: string): string {
  return dtype === 'bx' ? `wt_q(${r}, ${k})` : `wt_at(${r} * prm.K + ${k})`;
}

/** Outlier contribution of bx row r for token t (ELL slots; an empty slot adds 0 * x[t, 0]). */
function bxOutliers(r: string, t: string, stride: string): string {
  return `for (var j = ${stride === '1u' ? '0u' : 'lid'}; j < prm.wt_C; j += ${stride}) {
    let e = wt[prm.wt_ol + ${r} * prm.wt_C + j];
    acc += unpack2x16float(e >> 16u).x * R_x[${t} * prm.K + (e & 0xffffu)];
  }`;
}

const MV_ROWS = 4;
const MV_WG = 64;

/**
 * Matrix–vector (one active row) for f32/f16/bf16/q8_0: 4 weight rows per
 * workgroup, threads split K. With `vec4` (f32/f16 and K % 4 == 0) each load
 * reads 4 weights (16 or 8 bytes) and 4 x values.
 */
export function matvec(s: MatmulShape, feat: Features, roles: RoleBinding[], vec4 = false): KernelSource {
  const ra = reduceArgs(feat);
  const rowsLoop = Array.from({ length: MV_ROWS }, (_, i) => i);
  const weights = matmulWeights(s);
  if (vec4) weights[0] = { ...weights[0], vec4: true };
  const loop = vec4
    ? `for (var k4 = lid; k4 < K / 4u; k4 += ${MV_WG}u) {
    let k = k4 * 4u;
    let xv = vec4<f32>(R_x[xo + k], R_x[xo + k + 1u], R_x[xo + k + 2u], R_x[xo + k + 3u]);
    ${rowsLoop.map((i) => `if (r0 + ${i}u < prm.rowCount) { a${i} += dot(wt_at4((r0 + ${i}u) * (K / 4u) + k4), xv); }`).join('\n    ')}
  }`
    : `for (var k = lid; k < K; k += ${MV_WG}u) {
    let xv = R_x[xo + k];
    ${rowsLoop.map((i) => `if (r0 + ${i}u < prm.rowCount) { a${i} += ${wElem(s.dtype, `(r0 + ${i}u)`, 'k')} * xv; }`).join('\n    ')}
  }`;
  return {
    name: `matvec-${s.dtype}${vec4 ? '-vec4' : ''}`,
    params: matmulParams(s),
    roles,
    weights,
    reduceWG: MV_WG,
    body: `${ROWS_FN}
@compute @workgroup_size(${MV_WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  let r0 = wid.x * ${MV_ROWS}u;
  let t = wid.y;
  if (t >= rows()) { return; }
  let K = prm.K;
  ${rowsLoop.map((i) => `var a${i} = 0.0;`).join(' ')}
  let xo = t * K;
  ${loop}
  ${rowsLoop.map((i) => `a${i} = wg_sum(a${i}, lid, ${ra.sgi}, ${ra.sgs});`).join('\n  ')}
  if (lid < ${MV_ROWS}u && r0 + lid < prm.rowCount) {
    var v = a0;
    ${rowsLoop.slice(1).map((i) => `if (lid == ${i}u) { v = a${i}; }`).join(' ')}
    let n = prm.rowStart + r0 + lid;
    ${s.bias ? 'v += wb_at(n);' : ''}
    R_out[t * prm.N + n] = v;
  }
}`,
    grid: (n) => [Math.ceil(s.rowCount / MV_ROWS), rowsOf(s.fixed, n), 1],
  };
}

const TILE = 16;

/** Tiled matrix–matrix product (prefill) for every dtype: 16 weight rows × 16 tokens per workgroup, weights decoded into workgroup memory. */
export function matmulTiled(s: MatmulShape, roles: RoleBinding[]): KernelSource {
  return {
    name: `matmul-tiled-${s.dtype}`,
    params: matmulParams(s),
    roles,
    weights: matmulWeights(s),
    body: `${ROWS_FN}
var<workgroup> Ws: array<array<f32, ${TILE + 1}>, ${TILE}>;
var<workgroup> Xs: array<array<f32, ${TILE + 1}>, ${TILE}>;
${s.dtype === 'bx' ? `var<workgroup> Sz: array<vec2<f32>, ${TILE}>;` : ''}
@compute @workgroup_size(${TILE}, ${TILE}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let lx = l.x;
  let ly = l.y;
  let r0 = wid.x * ${TILE}u;
  let t0 = wid.y * ${TILE}u;
  let m = rows();
  let K = prm.K;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += ${TILE}u) {
    let wr = r0 + ly;
    let k = k0 + lx;
    var wv = 0.0;
    ${
      s.dtype === 'bx'
        ? `// A 16-column step lies inside one column group: one thread per row decodes its scale and zero.
    let g = k0 / prm.wt_G;
    let gt = wt_g[g];
    if (lx == 0u && wr < prm.rowCount) { Sz[ly] = wt_sz(wr, g, gt); }
    workgroupBarrier();
    if (wr < prm.rowCount && k < K) { let sz = Sz[ly]; wv = sz.x * (f32(wt_code(wr, k, gt)) - sz.y); }`
        : `if (wr < prm.rowCount && k < K) { wv = ${wElem(s.dtype, 'wr', 'k')}; }`
    }
    Ws[ly][lx] = wv;
    var xv = 0.0;
    if (t0 + ly < m && k < K) { xv = R_x[(t0 + ly) * K + k]; }
    Xs[ly][lx] = xv;
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE}u; kk++) { acc += Ws[lx][kk] * Xs[ly][kk]; }
    workgroupBarrier();
  }
  let r = r0 + lx;
  let t = t0 + ly;
  if (r < prm.rowCount && t < m) {
    ${s.dtype === 'bx' ? bxOutliers('r', 't', '1u') : ''}
    let n = prm.rowStart + r;
    ${s.bias ? 'acc += wb_at(n);' : ''}
    R_out[t * prm.N + n] = acc;
  }
}`,
    grid: (n) => [Math.ceil(s.rowCount / TILE), Math.ceil(rowsOf(s.fixed, n) / TILE), 1],
  };
}

const BX_WG = 64;
const BX_ROWS = 4;

/**
 * bx matrix–vector product: 4 weight rows per 64-thread workgroup, threads
 * over column groups (every row of a column group has the same width, so the
 * 4 rows never diverge). Per group and row: Σ s(q − z)x = s(Σ q·x − z·Σ x);
 * each x value is loaded once for the 4 rows. Software-pipelined: the packed
 * words of the current group are loaded (16-byte vec4 loads) before the
 * scales/zeros of the NEXT group are decoded, and consumed after, so metadata
 * decoding overlaps the weight loads. Outliers are added branch-free from the
 * rows' ELL slots. G is baked into the shader (3 variants) so loops unroll.
 */
export function matvecBx(s: MatmulShape, G: number, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  const R = Array.from({ length: BX_ROWS }, (_, i) => i);
  const n2 = G / 16; // words of a 2-bit slot
  const vec = (f: (i: number) => string) => `vec4<f32>(${R.map(f).join(', ')})`;
  // WGSL loops (not unrolled here): a software rasterizer such as lavapipe compiles unrolled variants very slowly.
  // Trip counts from the params (not constants): full unrolling made lavapipe's shader compile take ~4× longer.
  const four = `for (var v = 0u; v < prm.wt_G / 32u; v++) {
        ${R.map((i) => `let q${i} = ld4(p4_${i} + v * 4u);`).join(' ')}
        for (var e = 0u; e < prm.four; e++) {
          let c = c0 + (v * 4u + e) * 8u;
          let xa = xv4(c);
          let xb = xv4(c + 4u);
          xs += dot(xa + xb, vec4<f32>(1.0));
          dq += ${vec((i) => `d4(q${i}[e], xa, xb)`)};
        }
      }`;
  const load2 = (i: number) => (n2 >= 4 ? `ld4(p2_${i} + (k & ~3u))` : `vec4<u32>(wt[p2_${i}], wt[p2_${i} + 1u], 0u, 0u)`);
  const two = `for (var k = 0u; k < prm.wt_G / 16u; k++) {
        ${R.map((i) => `let w${i} = ${load2(i)}[k & 3u];`).join(' ')}
        let c = c0 + k * 16u;
        let xa = xv4(c);
        let xb = xv4(c + 4u);
        let xc = xv4(c + 8u);
        let xd = xv4(c + 12u);
        xs += dot(xa + xb + xc + xd, vec4<f32>(1.0));
        dq += ${vec((i) => `d2(w${i}, hi(p1_${i}, k, is3), xa, xb, xc, xd)`)};
      }`;
  return {
    name: `matvec-bx-g${G}`,
    params: [...matmulParams(s), ['four', 'u32', 4]],
    roles,
    weights: matmulWeights(s),
    reduceWG: BX_WG,
    body: `fn ld4(wi: u32) -> vec4<u32> {
  if ((wi & 3u) == 0u) { return wt4[wi >> 2u]; }
  return vec4<u32>(wt[wi], wt[wi + 1u], wt[wi + 2u], wt[wi + 3u]);
}
fn xv4(c: u32) -> vec4<f32> { return vec4<f32>(R_x[c], R_x[c + 1u], R_x[c + 2u], R_x[c + 3u]); }
/** Σ q·x over the 8 four-bit codes of word w (x in xa, xb). */
fn d4(w: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  let qa = vec4<f32>(vec4<u32>(w, w >> 4u, w >> 8u, w >> 12u) & vec4<u32>(15u));
  let qb = vec4<f32>(vec4<u32>(w >> 16u, w >> 20u, w >> 24u, w >> 28u) & vec4<u32>(15u));
  return dot(qa, xa) + dot(qb, xb);
}
/** The 16 high bits (3-bit groups) matching 2-bit word k of a slot; 0 for 2-bit groups. */
fn hi(p1: u32, k: u32, is3: bool) -> u32 {
  if (!is3) { return 0u; }
  return (wt[p1 + (k >> 1u)] >> ((k & 1u) * 16u)) & 0xffffu;
}
fn q2(w: u32, h: u32, j: u32) -> vec4<f32> {
  let sh = vec4<u32>(j, j + 1u, j + 2u, j + 3u);
  return vec4<f32>(((vec4<u32>(w) >> (sh * 2u)) & vec4<u32>(3u)) | (((vec4<u32>(h) >> sh) & vec4<u32>(1u)) << vec4<u32>(2u)));
}
/** Σ q·x over the 16 codes of 2-bit word w plus high bits h (x in xa..xd). */
fn d2(w: u32, h: u32, xa: vec4<f32>, xb: vec4<f32>, xc: vec4<f32>, xd: vec4<f32>) -> f32 {
  return dot(q2(w, h, 0u), xa) + dot(q2(w, h, 4u), xb) + dot(q2(w, h, 8u), xc) + dot(q2(w, h, 12u), xd);
}
/** Scales and zeros of group g for the 4 rows. */
fn meta4(r: vec4<u32>, g: u32, gt: vec4<u32>, sc: ptr<function, vec4<f32>>, zr: ptr<function, vec4<f32>>) {
  for (var i = 0u; i < ${BX_ROWS}u; i++) {
    let m = wt_sz(r[i], g, gt);
    (*sc)[i] = m.x;
    (*zr)[i] = m.y;
  }
}
@compute @workgroup_size(${BX_WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  ${LINEAR_WG}
  let r0 = wgi * ${BX_ROWS}u;
  if (r0 >= prm.rowCount) { return; }
  // Rows past the end repeat the last row (computed, never stored).
  let last = prm.rowCount - 1u;
  let rr = vec4<u32>(r0, min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last));
  let nG = prm.wt_nG;
  let K = prm.K;
  let full = select(nG, nG - 1u, nG * ${G}u != K);
  var acc = vec4<f32>(0.0);
  var g = lid;
  // Metadata of the first group this thread handles.
  var gt = wt_g[min(g, nG - 1u)];
  var sc: vec4<f32>;
  var zr: vec4<f32>;
  meta4(rr, min(g, nG - 1u), gt, &sc, &zr);
  loop {
    if (g >= full) { break; }
    let cgt = gt;
    let csc = sc;
    let czr = zr;
    let c0 = g * ${G}u;
    var dq = vec4<f32>(0.0);
    var xs = 0.0;
    // 1. Addresses of this group's packed words in the 4 rows.
    ${R.map((i) => `let p4_${i} = prm.wt_p4 + rr[${i}] * prm.wt_W4 + cgt.y; let p2_${i} = prm.wt_p2 + rr[${i}] * prm.wt_W2 + cgt.y; let p1_${i} = prm.wt_p1 + rr[${i}] * prm.wt_W1 + cgt.z;`).join('\n    ')}
    let is3 = cgt.x == 3u;
    if (cgt.x == 4u) {
      ${four}
    } else {
      ${two}
    }
    // 2. Decode the next group's scales and zeros (overlaps the loads above on GPUs that issue them asynchronously).
    let gn = g + ${BX_WG}u;
    if (gn < full) { gt = wt_g[gn]; meta4(rr, gn, gt, &sc, &zr); }
    acc += csc * (dq - czr * xs);
    g = gn;
  }
  // The partial last group (only when K is not a multiple of G): one column at a time.
  if (full < nG && lid == 0u) {
    let lg = nG - 1u;
    let lt = wt_g[lg];
    var lsc: vec4<f32>;
    var lzr: vec4<f32>;
    meta4(rr, lg, lt, &lsc, &lzr);
    var dq = vec4<f32>(0.0);
    var xs = 0.0;
    for (var c = lg * ${G}u; c < K; c++) {
      let xv = R_x[c];
      dq += ${vec((i) => `f32(wt_code(rr[${i}], c, lt))`)} * xv;
      xs += xv;
    }
    acc += lsc * (dq - lzr * xs);
  }
  // Outliers: every row's ELL slots, an empty slot adding 0 * x[0].
  for (var j = lid; j < prm.wt_C; j += ${BX_WG}u) {
    ${R.map((i) => `{ let e = wt[prm.wt_ol + rr[${i}] * prm.wt_C + j]; acc[${i}] += unpack2x16float(e >> 16u).x * R_x[e & 0xffffu]; }`).join('\n    ')}
  }
  ${R.map((i) => `let s${i} = wg_sum(acc[${i}], lid, ${ra.sgi}, ${ra.sgs});`).join('\n  ')}
  if (lid < ${BX_ROWS}u && r0 + lid < prm.rowCount) {
    var v = s0;
    ${R.slice(1).map((i) => `if (lid == ${i}u) { v = s${i}; }`).join(' ')}
    ${s.bias ? 'v += wb_at(prm.rowStart + r0 + lid);' : ''}
    R_out[prm.rowStart + r0 + lid] = v;
  }
}`,
    grid: () => grid1(Math.ceil(s.rowCount / BX_ROWS)),
  };
}

const ATT_WG = 64;

/** Attention: one workgroup per (head, query row); scores in a per-program storage scratch [rows][heads][context]. */
export function attention(heads: number, kvHeads: number, headDim: number, scale: number, ctx: number, maskLayer: number | null, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  // SpecEE `mask` policy: earlier positions that exited before this layer stored no K/V here.
  const mask = maskLayer === null ? '' : 'if (p < run.pos && R_rec[p] < prm.layer) { s = run.ninf; }';
  return {
    name: 'attention',
    params: [['heads', 'u32', heads], ['kvHeads', 'u32', kvHeads], ['hd', 'u32', headDim], ['ctx', 'u32', ctx], ['scale', 'f32', scale], ['layer', 'i32', maskLayer ?? 0]],
    roles,
    weights: [],
    reduceWG: ATT_WG,
    body: `@compute @workgroup_size(${ATT_WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  let h = wid.x;
  let t = wid.y;
  if (t >= run.n) { return; }
  let L = run.pos + t + 1u;
  let hd = prm.hd;
  let qo = t * prm.heads * hd + h * hd;
  let kvw = prm.kvHeads * hd;
  let ko = ((h * prm.kvHeads) / prm.heads) * hd;
  let base = (t * prm.heads + h) * prm.ctx;
  var mx = run.ninf;
  for (var p = lid; p < L; p += ${ATT_WG}u) {
    var s = 0.0;
    for (var d = 0u; d < hd; d++) { s += R_q[qo + d] * R_kc[p * kvw + ko + d]; }
    s = s * prm.scale;
    ${mask}
    R_sc[base + p] = s;
    mx = max(mx, s);
  }
  mx = wg_max(mx, lid, ${ra.sgi}, ${ra.sgs});
  var sum = 0.0;
  for (var p = lid; p < L; p += ${ATT_WG}u) {
    let e = exp(R_sc[base + p] - mx);
    R_sc[base + p] = e;
    sum += e;
  }
  sum = wg_sum(sum, lid, ${ra.sgi}, ${ra.sgs});
  storageBarrier();
  let inv = 1.0 / sum;
  for (var d = lid; d < hd; d += ${ATT_WG}u) {
    var a = 0.0;
    for (var p = 0u; p < L; p++) { a += R_sc[base + p] * R_vc[p * kvw + ko + d]; }
    R_out[qo + d] = a * inv;
  }
}`,
    grid: (n) => [heads, n, 1],
  };
}

export const ATT_CHUNK = 64;

/**
 * Decode attention split over the sequence (flash-decoding): one workgroup per
 * (head, chunk of 64 cache positions) computes its chunk's max score, sum of
 * exponentials and weighted sum of v into a partials scratch; `attentionCombine`
 * merges the chunks per head. Long contexts then use many workgroups instead of
 * one per head.
 */
export function attentionSplit(heads: number, kvHeads: number, headDim: number, scale: number, ctx: number, maskLayer: number | null, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  const splits = Math.ceil(ctx / ATT_CHUNK);
  const mask = maskLayer === null ? '' : 'if (p < run.pos && R_rec[p] < prm.layer) { s = run.ninf; }';
  return {
    name: 'attention-split',
    params: [['heads', 'u32', heads], ['kvHeads', 'u32', kvHeads], ['hd', 'u32', headDim], ['S', 'u32', splits], ['scale', 'f32', scale], ['layer', 'i32', maskLayer ?? 0]],
    roles,
    weights: [],
    reduceWG: ATT_CHUNK,
    body: `var<workgroup> ew: array<f32, ${ATT_CHUNK}>;
@compute @workgroup_size(${ATT_CHUNK}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  let h = wid.x;
  let sidx = wid.y;
  let L = run.pos + 1u;
  let p0 = sidx * ${ATT_CHUNK}u;
  if (p0 >= L) { return; }
  let hd = prm.hd;
  let kvw = prm.kvHeads * hd;
  let ko = ((h * prm.kvHeads) / prm.heads) * hd;
  let qo = h * hd;
  let p = p0 + lid;
  let valid = p < L;
  var s = run.ninf;
  if (valid) {
    var d2 = 0.0;
    for (var d = 0u; d < hd; d++) { d2 += R_q[qo + d] * R_kc[p * kvw + ko + d]; }
    s = d2 * prm.scale;
    ${mask}
  }
  let m = wg_max(s, lid, ${ra.sgi}, ${ra.sgs});
  var e = 0.0;
  if (valid && s > run.ninf) { e = exp(s - m); }
  ew[lid] = e;
  let l = wg_sum(e, lid, ${ra.sgi}, ${ra.sgs});
  workgroupBarrier();
  let cnt = min(${ATT_CHUNK}u, L - p0);
  let base = (h * prm.S + sidx) * (hd + 2u);
  for (var d = lid; d < hd; d += ${ATT_CHUNK}u) {
    var a = 0.0;
    for (var j = 0u; j < cnt; j++) { a += ew[j] * R_vc[(p0 + j) * kvw + ko + d]; }
    R_part[base + 2u + d] = a;
  }
  if (lid == 0u) { R_part[base] = m; R_part[base + 1u] = l; }
}`,
    grid: (n, pos) => (n === 1 ? [heads, Math.ceil((pos + 1) / ATT_CHUNK), 1] : null),
  };
}

export function attentionCombine(heads: number, headDim: number, ctx: number, roles: RoleBinding[]): KernelSource {
  const splits = Math.ceil(ctx / ATT_CHUNK);
  return {
    name: 'attention-combine',
    params: [['hd', 'u32', headDim], ['S', 'u32', splits]],
    roles,
    weights: [],
    body: `@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let hd = prm.hd;
  let used = (run.pos + ${ATT_CHUNK}u) / ${ATT_CHUNK}u;
  var M = run.ninf;
  for (var s = 0u; s < used; s++) { M = max(M, R_part[(h * prm.S + s) * (hd + 2u)]); }
  var den = 0.0;
  for (var s = 0u; s < used; s++) {
    let b = (h * prm.S + s) * (hd + 2u);
    den += R_part[b + 1u] * exp(R_part[b] - M);
  }
  for (var d = lid; d < hd; d += 64u) {
    var o = 0.0;
    for (var s = 0u; s < used; s++) {
      let b = (h * prm.S + s) * (hd + 2u);
      o += R_part[b + 2u + d] * exp(R_part[b] - M);
    }
    R_out[h * hd + d] = o / den;
  }
}`,
    grid: (n) => (n === 1 ? [heads, 1, 1] : null),
  };
}

/** argmax of row 0 (lowest index on ties; NaN never wins; all NaN gives 0). One workgroup. */
export function argmax(cols: number, roles: RoleBinding[]): KernelSource {
  return {
    name: 'argmax',
    params: [['V', 'u32', cols]],
    roles,
    weights: [],
    body: `${ARGMAX_HELPERS}
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = run.ninf;
  var bi = 0xffffffffu;
  for (var i = lid; i < prm.V; i += 256u) {
    let x = R_x[i];
    if (x > bv || (bi == 0xffffffffu && x == bv)) { bv = x; bi = i; }
  }
  let best = wg_argmax(bv, bi, lid);
  if (lid == 0u) { R_out[0] = i32(select(best, 0u, best == 0xffffffffu)); }
}`,
    grid: () => [1, 1, 1],
  };
}

const ARGMAX_HELPERS = `var<workgroup> av: array<f32, 256>;
var<workgroup> ai: array<u32, 256>;
/** (v, i) pairs: larger v first, then lower index; index 0xffffffff is "none". */
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return (v > w) || (v == w && i < j) || (j == 0xffffffffu && i != 0xffffffffu);
}
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
  av[lid] = v;
  ai[lid] = i;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      if (better(av[lid + s], ai[lid + s], av[lid], ai[lid])) { av[lid] = av[lid + s]; ai[lid] = ai[lid + s]; }
    }
    workgroupBarrier();
  }
  let r = ai[0];
  workgroupBarrier();
  return r;
}`;

/**
 * sample: the exact procedure of the 'sample' op in one workgroup. Candidates
 * are sorted by a bitonic sort of (logit, index) pairs in a storage scratch of
 * Vp = next power of two entries; probabilities and their prefix sums are f32.
 */
export function sample(vocab: number, histCap: number, roles: RoleBinding[], feat: Features): KernelSource {
  let vp = 1;
  while (vp < vocab) vp *= 2;
  const ra = reduceArgs(feat);
  return {
    name: 'sample',
    params: [['V', 'u32', vocab], ['Vp', 'u32', vp], ['H', 'u32', histCap]],
    roles,
    weights: [],
    reduceWG: 256,
    body: `${ARGMAX_HELPERS}
var<workgroup> scanv: array<f32, 256>;
var<workgroup> amin: atomic<u32>;
var<workgroup> uval: u32;
var<workgroup> fval: f32;
fn before(v: f32, i: u32, w: f32, j: u32) -> bool { return v > w || (v == w && i < j); }
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32${ra.params}) {
  let V = prm.V;
  let Vp = prm.Vp;
  for (var i = lid; i < Vp; i += 256u) {
    if (i < V) {
      let l = R_logits[i];
      R_sk[i] = select(l, run.ninf, l != l);
      R_si[i] = i;
    } else {
      R_sk[i] = run.ninf;
      R_si[i] = 0xffffffffu;
    }
  }
  storageBarrier();
  // 1. Repetition penalty, once per distinct id.
  if (run.penalty != 1.0) {
    for (var k = lid; k < min(run.hlen, prm.H); k += 256u) {
      let id = R_hist[k];
      if (id >= 0 && u32(id) < V) {
        var dup = false;
        for (var j = 0u; j < k; j++) { if (R_hist[j] == id) { dup = true; break; } }
        if (!dup) {
          let x = R_sk[u32(id)];
          R_sk[u32(id)] = select(x * run.penalty, x / run.penalty, x > 0.0);
        }
      }
    }
  }
  storageBarrier();
  // 2. Greedy.
  if (!(run.temp > 0.0)) {
    var bv = run.ninf;
    var bi = 0xffffffffu;
    for (var i = lid; i < V; i += 256u) {
      let x = R_sk[i];
      if (x > bv || (bi == 0xffffffffu && x == bv)) { bv = x; bi = i; }
    }
    let best = wg_argmax(bv, bi, lid);
    if (lid == 0u) { R_out[0] = i32(select(best, 0u, best == 0xffffffffu)); }
    return;
  }
  // 3. Temperature, then sort descending (ties: lower index first).
  for (var i = lid; i < V; i += 256u) { R_sk[i] = R_sk[i] / run.temp; }
  storageBarrier();
  for (var k = 2u; k <= Vp; k = k << 1u) {
    for (var j = k >> 1u; j > 0u; j = j >> 1u) {
      for (var i = lid; i < Vp; i += 256u) {
        let l = i ^ j;
        if (l > i) {
          let a = R_sk[i]; let ai_ = R_si[i];
          let b = R_sk[l]; let bi_ = R_si[l];
          let descending = (i & k) == 0u;
          let swap = select(before(a, ai_, b, bi_), before(b, bi_, a, ai_), descending);
          if (swap) { R_sk[i] = b; R_si[i] = bi_; R_sk[l] = a; R_si[l] = ai_; }
        }
      }
      storageBarrier();
    }
  }
  if (lid == 0u) { fval = R_sk[0]; }
  let top = workgroupUniformLoad(&fval);
  if (top == run.ninf) {
    if (lid == 0u) { R_out[0] = i32(R_si[0]); }
    return;
  }
  var m = V;
  if (run.topK > 0u && run.topK < V) { m = run.topK; }
  // Softmax over the kept candidates (probabilities into R_pr).
  var part = 0.0;
  for (var i = lid; i < m; i += 256u) { let e = exp(R_sk[i] - top); R_pr[i] = e; part += e; }
  let total = wg_sum(part, lid, ${ra.sgi}, ${ra.sgs});
  storageBarrier();
  // Inclusive prefix sums of the probabilities (chunk per thread), into R_sk.
  let S = (m + 255u) / 256u;
  let lo = min(lid * S, m);
  let hi = min(lo + S, m);
  var cs = 0.0;
  for (var i = lo; i < hi; i++) { let p = R_pr[i] / total; R_pr[i] = p; cs += p; }
  scanv[lid] = cs;
  workgroupBarrier();
  var off = 0.0;
  for (var j = 0u; j < lid; j++) { off += scanv[j]; }
  for (var i = lo; i < hi; i++) { off += R_pr[i]; R_sk[i] = off; }
  storageBarrier();
  // top-p: the smallest prefix with cumulative probability >= topP; min-p: p >= minP * pmax.
  if (lid == 0u) { atomicStore(&amin, m); }
  workgroupBarrier();
  if (run.topP < 1.0) {
    for (var i = lo; i < hi; i++) { if (R_sk[i] >= run.topP) { atomicMin(&amin, i + 1u); break; } }
  }
  if (run.minP > 0.0) {
    let thr = run.minP * R_pr[0];
    for (var i = max(lo, 1u); i < hi; i++) { if (R_pr[i] < thr) { atomicMin(&amin, i); break; } }
  }
  workgroupBarrier();
  let kept = atomicLoad(&amin);
  let z = R_sk[kept - 1u];
  workgroupBarrier();
  if (lid == 0u) { atomicStore(&amin, kept - 1u); }
  workgroupBarrier();
  for (var i = lo; i < min(hi, kept); i++) { if (R_sk[i] / z > run.uni) { atomicMin(&amin, i); break; } }
  workgroupBarrier();
  if (lid == 0u) { R_out[0] = i32(R_si[atomicLoad(&amin)]); }
}`,
    grid: () => [1, 1, 1],
  };
}

// ------------------------------------------------------------------ SpecEE

/**
 * Gate: live indirect args [start, start + count) = base args when the
 * predicate holds, else zeros (the gated dispatches then run no workgroups and
 * read no weights). mode 0: exit[1] < 0 (running); 1: 0 <= exit[1] < layer
 * (exited before); 2: flags[flag] != 0 (an exit check's predictor fired).
 */
export function gate(mode: number, layer: number, flag: number, start: number, count: number, roles: RoleBinding[]): KernelSource {
  return {
    name: 'gate',
    params: [['mode', 'u32', mode], ['layer', 'i32', layer], ['flag', 'u32', flag], ['start', 'u32', start], ['count', 'u32', count]],
    roles,
    weights: [],
    body: `@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) lid: u32) {
  let e = R_exit[1];
  var ok = false;
  if (prm.mode == 0u) { ok = e < 0; }
  else if (prm.mode == 1u) { ok = e >= 0 && e < prm.layer; }
  else { ok = R_flags[prm.flag] != 0u; }
  for (var i = lid; i < prm.count * 3u; i += 64u) {
    let j = prm.start * 3u + i;
    R_live[j] = select(0u, R_base[j], ok);
  }
}`,
    grid: () => [1, 1, 1],
  };
}

/** exit_check, step 1: skip unless running and active; h = RMSNorm(x[n-1]) * norm. flags[go] says whether the check runs. */
export function exitNorm(dim: number, eps: number, layer: number, goFlag: number, normDType: WeightDType, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  return {
    name: 'exit-norm',
    params: [['D', 'u32', dim], ['eps', 'f32', eps], ['layer', 'u32', layer], ['go', 'u32', goFlag]],
    roles,
    weights: [{ name: 'wn', dtype: normDType }],
    reduceWG: 256,
    body: `var<workgroup> goShared: u32;
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32${ra.params}) {
  if (lid == 0u) {
    let ok = R_exit[1] < 0 && R_active[prm.layer] != 0;
    goShared = select(0u, 1u, ok);
    R_flags[prm.go] = goShared;
  }
  let go = workgroupUniformLoad(&goShared);
  if (go == 0u) { return; }
  let o = (run.n - 1u) * prm.D;
  var ss = 0.0;
  for (var j = lid; j < prm.D; j += 256u) { let v = R_x[o + j]; ss += v * v; }
  ss = wg_sum(ss, lid, ${ra.sgi}, ${ra.sgs});
  let inv = 1.0 / sqrt(ss / f32(prm.D) + prm.eps);
  for (var j = lid; j < prm.D; j += 256u) { R_h[j] = R_x[o + j] * inv * wn_at(j); }
}`,
    grid: () => [1, 1, 1],
  };
}

/** exit_check, step 2 (per LM-head chunk): z[j] = lmHead[drafts[j]] · h for the drafts in this chunk (-inf outside the vocabulary). */
export function exitDrafts(dim: number, vocab: number, k: number, rowStart: number, rowCount: number, goFlag: number, dtype: WeightDType, bxParams: ParamField[], feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  const read = dtype === 'bx' ? 'wt_exact(id - prm.rowStart, c)' : 'wt_at((id - prm.rowStart) * prm.D + c)';
  return {
    name: 'exit-drafts',
    params: [['D', 'u32', dim], ['V', 'u32', vocab], ['rowStart', 'u32', rowStart], ['rowCount', 'u32', rowCount], ['go', 'u32', goFlag], ...bxParams],
    roles,
    weights: [{ name: 'wt', dtype }],
    reduceWG: 64,
    body: `var<workgroup> goShared: u32;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${ra.params}) {
  if (lid == 0u) { goShared = R_flags[prm.go]; }
  let go = workgroupUniformLoad(&goShared);
  if (go == 0u) { return; }
  let j = wid.x;
  let sid = R_drafts[j];
  if (sid < 0 || u32(sid) >= prm.V) {
    if (prm.rowStart == 0u && lid == 0u) { R_z[j] = run.ninf; }
    return;
  }
  let id = u32(sid);
  if (id < prm.rowStart || id >= prm.rowStart + prm.rowCount) { return; }
  var s = 0.0;
  for (var c = lid; c < prm.D; c += 64u) { s += ${read} * R_h[c]; }
  s = wg_sum(s, lid, ${ra.sgi}, ${ra.sgs});
  if (lid == 0u) { R_z[j] = s; }
}`,
    grid: () => [k, 1, 1],
  };
}

/**
 * exit_check, step 3: softmax of the draft logits, features [z, p, p − probs],
 * probs = p, the predictor MLP (3k → hidden, ReLU → 1, sigmoid); flags[fired]
 * = score > threshold.
 */
export function exitPredict(k: number, hidden: number, threshold: number, goFlag: number, firedFlag: number, dtypes: { up: WeightDType; upBias: WeightDType; down: WeightDType; downBias: WeightDType }, feat: Features, roles: RoleBinding[]): KernelSource {
  const ra = reduceArgs(feat);
  return {
    name: 'exit-predict',
    params: [['k', 'u32', k], ['H', 'u32', hidden], ['threshold', 'f32', threshold], ['go', 'u32', goFlag], ['fired', 'u32', firedFlag]],
    roles,
    weights: [
      { name: 'wu', dtype: dtypes.up },
      { name: 'wub', dtype: dtypes.upBias },
      { name: 'wd', dtype: dtypes.down },
      { name: 'wdb', dtype: dtypes.downBias },
    ],
    reduceWG: 64,
    body: `var<workgroup> goShared: u32;
@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) lid: u32${ra.params}) {
  if (lid == 0u) { goShared = R_flags[prm.go]; }
  let go = workgroupUniformLoad(&goShared);
  if (go == 0u) { return; }
  let k = prm.k;
  var mx = run.ninf;
  for (var j = 0u; j < k; j++) { mx = max(mx, R_z[j]); }
  var sum = 0.0;
  for (var j = 0u; j < k; j++) { sum += exp(R_z[j] - mx); }
  // Features (every thread computes them; k is small), then probs = p.
  for (var u = lid; u < prm.H; u += 64u) {
    var a = wub_at(u);
    for (var j = 0u; j < k; j++) {
      let p = exp(R_z[j] - mx) / sum;
      a += wu_at(u * 3u * k + j) * R_z[j] + wu_at(u * 3u * k + k + j) * p + wu_at(u * 3u * k + 2u * k + j) * (p - R_probs[j]);
    }
    R_feat[u] = max(a, 0.0) * wd_at(u);
  }
  storageBarrier();
  var o = 0.0;
  for (var u = lid; u < prm.H; u += 64u) { o += R_feat[u]; }
  o = wg_sum(o, lid, ${ra.sgi}, ${ra.sgs});
  storageBarrier();
  if (lid == 0u) {
    for (var j = 0u; j < k; j++) { R_probs[j] = exp(R_z[j] - mx) / sum; }
    let score = 1.0 / (1.0 + exp(-(o + wdb_at(0u))));
    R_flags[prm.fired] = select(0u, 1u, score > prm.threshold);
  }
}`,
    grid: () => [1, 1, 1],
  };
}

/** exit_check, step 5 (runs only when the predictor fired): t = argmax(logits); exit = (t, layer) when t is a draft. */
export function exitDecide(vocab: number, k: number, layer: number, roles: RoleBinding[]): KernelSource {
  return {
    name: 'exit-decide',
    params: [['V', 'u32', vocab], ['k', 'u32', k], ['layer', 'i32', layer]],
    roles,
    weights: [],
    body: `${ARGMAX_HELPERS}
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = run.ninf;
  var bi = 0xffffffffu;
  for (var i = lid; i < prm.V; i += 256u) {
    let x = R_logits[i];
    if (x > bv || (bi == 0xffffffffu && x == bv)) { bv = x; bi = i; }
  }
  let best = wg_argmax(bv, bi, lid);
  if (lid == 0u) {
    let t = i32(select(best, 0u, best == 0xffffffffu));
    for (var j = 0u; j < prm.k; j++) {
      if (R_drafts[j] == t) { R_exit[0] = t; R_exit[1] = prm.layer; break; }
    }
  }
}`,
    grid: () => [1, 1, 1],
  };
}

/** exit_record: exitLayers[pos + t] = exit[1] when an exit happened, else lastLayer. */
export function exitRecord(hasExit: boolean, lastLayer: number, rows: number, roles: RoleBinding[]): KernelSource {
  return {
    name: 'exit-record',
    params: [['last', 'i32', lastLayer], ['rows', 'u32', rows]],
    roles,
    weights: [],
    body: `@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) lid: u32) {
  var v = prm.last;
  ${hasExit ? 'if (R_exit[1] >= 0) { v = R_exit[1]; }' : ''}
  for (var t = lid; t < run.n; t += 64u) {
    if (run.pos + t < prm.rows) { R_rec[run.pos + t] = v; }
  }
}`,
    grid: () => [1, 1, 1],
  };
}
