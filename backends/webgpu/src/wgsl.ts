/**
 * WGSL generation for every kernel. Each kernel is a small template:
 * - binding 0: the run uniform (pos, n, sampling parameters), written once per run;
 * - binding 1: the op's constant parameters (a uniform struct generated from a field list);
 * - then one storage binding per DISTINCT activation buffer (roles that name the
 *   same buffer, e.g. `add` with out = a, or kv_store with kCache = vCache,
 *   share one read_write binding: WebGPU forbids aliasing writable bindings);
 * - then the weight bindings, whose element decoder depends on the weight's
 *   dtype and on the device's code path (shader-f16 or packed u32).
 * Kernel bodies name buffers by role (`R_x`, `R_out`); the generator replaces
 * each role with its binding variable.
 */
import type { WeightDType } from '@bitexit/format';

export interface Features {
  f16: boolean;
  subgroups: boolean;
}

export type ParamField = readonly [name: string, type: 'u32' | 'f32' | 'i32', value: number];

export interface RoleBinding {
  role: string;
  type: 'f32' | 'i32' | 'u32';
  write: boolean;
  /** Identity of the buffer (roles with the same key share a binding). */
  key: number;
}

export type BindingKind = 'uniform' | 'storage' | 'read-only-storage';

export interface WeightBinding {
  /** Prefix of the generated accessors: `${name}_at(i)` (flat element), `${name}_rc(r, c)` for 2-D access. */
  name: string;
  dtype: WeightDType;
  /** f32/f16 only: also bind the weight as 4-element vectors (`${name}_at4(i)`: elements 4i..4i+3). */
  vec4?: boolean;
}

export const RUN_STRUCT = `struct Run {
  pos: u32, n: u32, hlen: u32, topK: u32,
  temp: f32, topP: f32, minP: f32, penalty: f32,
  uni: f32, ninf: f32, pad0: u32, pad1: u32,
}`;
export const RUN_BYTES = 48;

/** Bytes of a generated param struct (uniform buffers are 16-byte multiples). */
export function paramBytes(fields: readonly ParamField[]): number {
  return Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
}

export function packParams(fields: readonly ParamField[]): ArrayBuffer {
  const buf = new ArrayBuffer(paramBytes(fields));
  const dv = new DataView(buf);
  fields.forEach(([, type, value], i) => {
    if (type === 'f32') dv.setFloat32(i * 4, value, true);
    else if (type === 'i32') dv.setInt32(i * 4, value, true);
    else dv.setUint32(i * 4, value >>> 0, true);
  });
  return buf;
}

function paramStruct(fields: readonly ParamField[]): string {
  const body = fields.map(([n, t]) => `  ${n}: ${t},`).join('\n');
  return `struct Params {\n${body || '  unused: u32,'}\n}`;
}

/** Element decoders for one weight binding. `K` is the weight's row width (a param). */
function weightDecl(w: WeightBinding, binding: number, feat: Features): string {
  const n = w.name;
  if (w.vec4) {
    const scalar = weightDecl({ name: n, dtype: w.dtype }, binding, feat);
    const b = binding + 1;
    if (w.dtype === 'f32') return `${scalar}\n@group(0) @binding(${b}) var<storage, read> ${n}v: array<vec4<f32>>;\nfn ${n}_at4(i: u32) -> vec4<f32> { return ${n}v[i]; }`;
    if (w.dtype !== 'f16') throw new Error(`no vec4 decoder for ${w.dtype}`);
    return feat.f16
      ? `${scalar}\n@group(0) @binding(${b}) var<storage, read> ${n}v: array<vec4<f16>>;\nfn ${n}_at4(i: u32) -> vec4<f32> { return vec4<f32>(${n}v[i]); }`
      : `${scalar}\n@group(0) @binding(${b}) var<storage, read> ${n}v: array<vec2<u32>>;\nfn ${n}_at4(i: u32) -> vec4<f32> { let w = ${n}v[i]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }`;
  }
  switch (w.dtype) {
    case 'f32':
      return `@group(0) @binding(${binding}) var<storage, read> ${n}: array<f32>;
fn ${n}_at(i: u32) -> f32 { return ${n}[i]; }`;
    case 'f16':
      return feat.f16
        ? `@group(0) @binding(${binding}) var<storage, read> ${n}: array<f16>;
fn ${n}_at(i: u32) -> f32 { return f32(${n}[i]); }`
        : `@group(0) @binding(${binding}) var<storage, read> ${n}: array<u32>;
fn ${n}_at(i: u32) -> f32 { return unpack2x16float(${n}[i >> 1u])[i & 1u]; }`;
    case 'bf16':
      return `@group(0) @binding(${binding}) var<storage, read> ${n}: array<u32>;
fn ${n}_at(i: u32) -> f32 { let w = ${n}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;
    case 'q8_0':
      // Blocks of 34 bytes: f16 scale, then 32 int8 codes.
      return `@group(0) @binding(${binding}) var<storage, read> ${n}: array<u32>;
fn ${n}_byte(o: u32) -> u32 { return (${n}[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn ${n}_at(i: u32) -> f32 {
  let bo = (i >> 5u) * 34u;
  let d = unpack2x16float((${n}[bo >> 2u] >> ((bo & 2u) * 8u)) & 0xffffu).x;
  let q = i32(${n}_byte(bo + 2u + (i & 31u)) << 24u) >> 24u;
  return f32(q) * d;
}`;
    case 'bx':
      return bxDecl(n, binding);
    default:
      throw new Error(`no WGSL decoder for ${String(w.dtype)}`);
  }
}

/** Params every bx weight needs (SPEC.md §3), appended to the op's params with the weight's prefix. */
export const BX_PARAM_NAMES = ['rows', 'cols', 'G', 'nG', 'F', 'M', 'so', 'SR', 'SG', 'tileCols', 'p4', 'p2', 'p1', 'W4', 'W2', 'W1', 'meta', 's2', 'ol', 'C'] as const;

/**
 * bx decoding: `${n}` is the blob as u32 words (and `${n}4` the same buffer as
 * vec4<u32> for 16-byte loads), `${n}_g` the per-group table
 * (width, word offset of the group's slot in a P4/P2 row, word offset in a P1
 * row, bit offset of its zero field inside a row's meta bits).
 */
function bxDecl(n: string, binding: number): string {
  const p = (f: string) => `prm.${n}_${f}`;
  return `@group(0) @binding(${binding}) var<storage, read> ${n}: array<u32>;
@group(0) @binding(${binding + 1}) var<storage, read> ${n}4: array<vec4<u32>>;
@group(0) @binding(${binding + 2}) var<storage, read> ${n}_g: array<vec4<u32>>;
fn ${n}_bits(bit: u32, nb: u32) -> u32 {
  let wi = ${p('meta')} + (bit >> 5u);
  let sh = bit & 31u;
  var v = ${n}[wi] >> sh;
  if (sh + nb > 32u) { v = v | (${n}[wi + 1u] << (32u - sh)); }
  return v & ((1u << nb) - 1u);
}
/** Scale and zero of (row r, group g), exactly as SPEC.md §4. */
fn ${n}_sz(r: u32, g: u32, gt: vec4<u32>) -> vec2<f32> {
  let rb = r * ${p('M')};
  var s: f32;
  if (${p('so')} == 0u) {
    s = unpack2x16float(${n}_bits(rb + g * 16u, 16u)).x;
  } else {
    let tw = ${n}[${p('s2')} + (r / ${p('SR')}) * ${p('tileCols')} + g / ${p('SG')}];
    let dm = unpack2x16float(tw);
    s = dm.x * f32(${n}_bits(rb + g * ${p('F')}, ${p('F')})) + dm.y;
  }
  let z = f32(${n}_bits(rb + gt.w, gt.x));
  return vec2<f32>(s, z);
}
/** Code q of (r, c) (no outliers). */
fn ${n}_code(r: u32, c: u32, gt: vec4<u32>) -> u32 {
  let i = c % ${p('G')};
  if (gt.x == 4u) {
    return (${n}[${p('p4')} + r * ${p('W4')} + gt.y + (i >> 3u)] >> ((i & 7u) * 4u)) & 15u;
  }
  var q = (${n}[${p('p2')} + r * ${p('W2')} + gt.y + (i >> 4u)] >> ((i & 15u) * 2u)) & 3u;
  if (gt.x == 3u) {
    q = q | (((${n}[${p('p1')} + r * ${p('W1')} + gt.z + (i >> 5u)] >> (i & 31u)) & 1u) << 2u);
  }
  return q;
}
/** Quantized part of W[r, c] (outliers are added separately: their code is the zero, so this is exactly 0 there). */
fn ${n}_q(r: u32, c: u32) -> f32 {
  let g = c / ${p('G')};
  let gt = ${n}_g[g];
  let sz = ${n}_sz(r, g, gt);
  return sz.x * (f32(${n}_code(r, c, gt)) - sz.y);
}
/** Exact W[r, c] including outliers. */
fn ${n}_exact(r: u32, c: u32) -> f32 {
  var v = ${n}_q(r, c);
  for (var j = 0u; j < ${p('C')}; j++) {
    let e = ${n}[${p('ol')} + r * ${p('C')} + j];
    if (e != 0u && (e & 0xffffu) == c) { v = unpack2x16float(e >> 16u).x; }
  }
  return v;
}`;
}

/** Assembles a kernel: header, bindings, helpers, then the body with roles substituted. */
export function assemble(opts: {
  feat: Features;
  params: readonly ParamField[];
  roles: readonly RoleBinding[];
  weights: readonly WeightBinding[];
  body: string;
  /** Reductions over a workgroup of this size are emitted when set. */
  reduceWG?: number;
}): { code: string; roleOrder: number[]; layout: BindingKind[] } {
  const { feat } = opts;
  const lines: string[] = [];
  if (feat.f16) lines.push('enable f16;');
  if (feat.subgroups && opts.reduceWG) lines.push('enable subgroups;', 'diagnostic(off, subgroup_uniformity);');
  lines.push(RUN_STRUCT, paramStruct(opts.params));
  lines.push('@group(0) @binding(0) var<uniform> run: Run;', '@group(0) @binding(1) var<uniform> prm: Params;');
  // One binding per distinct buffer; read_write when any role writes it.
  const keys: number[] = [];
  const info = new Map<number, { type: string; write: boolean; binding: number }>();
  let b = 2;
  for (const r of opts.roles) {
    const e = info.get(r.key);
    if (e) {
      e.write ||= r.write;
      if (e.type !== r.type) throw new Error(`buffer bound as ${e.type} and ${r.type}`);
    } else {
      info.set(r.key, { type: r.type, write: r.write, binding: b++ });
      keys.push(r.key);
    }
  }
  for (const k of keys) {
    const e = info.get(k)!;
    lines.push(`@group(0) @binding(${e.binding}) var<storage, ${e.write ? 'read_write' : 'read'}> b${e.binding}: array<${e.type}>;`);
  }
  let wb = b;
  for (const w of opts.weights) {
    lines.push(weightDecl(w, wb, feat));
    wb += w.dtype === 'bx' ? 3 : w.vec4 ? 2 : 1;
  }
  if (opts.reduceWG) lines.push(reductions(opts.reduceWG, feat));
  let body = opts.body;
  for (const r of opts.roles) body = body.replace(new RegExp(`\\bR_${r.role}\\b`, 'g'), `b${info.get(r.key)!.binding}`);
  if (/\bR_\w+/.test(body)) throw new Error(`unbound role in kernel: ${/\bR_\w+/.exec(body)![0]}`);
  lines.push(body);
  const layout: BindingKind[] = ['uniform', 'uniform'];
  for (const k of keys) layout.push(info.get(k)!.write ? 'storage' : 'read-only-storage');
  for (let i = b; i < wb; i++) layout.push('read-only-storage');
  return { code: lines.join('\n'), roleOrder: keys, layout };
}

/**
 * Workgroup-wide sum and max. With subgroups: subgroup reduction, then one
 * partial per subgroup in workgroup memory; without: a tree in workgroup memory.
 * Must be called in uniform control flow by every invocation.
 */
function reductions(wg: number, feat: Features): string {
  if (feat.subgroups) {
    return `var<workgroup> red: array<f32, ${wg}>;
fn wg_sum(v: f32, lid: u32, sgi: u32, sgs: u32) -> f32 {
  let s = subgroupAdd(v);
  workgroupBarrier();
  if (sgi == 0u) { red[lid / sgs] = s; }
  workgroupBarrier();
  var t = 0.0;
  for (var i = 0u; i < (${wg}u + sgs - 1u) / sgs; i++) { t += red[i]; }
  workgroupBarrier();
  return t;
}
fn wg_max(v: f32, lid: u32, sgi: u32, sgs: u32) -> f32 {
  let s = subgroupMax(v);
  workgroupBarrier();
  if (sgi == 0u) { red[lid / sgs] = s; }
  workgroupBarrier();
  var t = red[0];
  for (var i = 1u; i < (${wg}u + sgs - 1u) / sgs; i++) { t = max(t, red[i]); }
  workgroupBarrier();
  return t;
}`;
  }
  return `var<workgroup> red: array<f32, ${wg}>;
fn wg_sum(v: f32, lid: u32, sgi: u32, sgs: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}
fn wg_max(v: f32, lid: u32, sgi: u32, sgs: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}`;
}

/** Entry-point builtins: with subgroups the subgroup id/size come from the hardware, else dummies. */
export function reduceArgs(feat: Features): { params: string; sgi: string; sgs: string } {
  return feat.subgroups
    ? { params: ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32', sgi: 'sgi', sgs: 'sgs' }
    : { params: '', sgi: '0u', sgs: '1u' };
}

/** Effective row count of a row-wise op: its fixed rows, else the run's n. */
export const ROWS_FN = 'fn rows() -> u32 { return select(run.n, prm.fixedRows, prm.fixedRows != 0u); }';

/** Linear workgroup index for 2-D dispatches that exceed 65535 workgroups in x. */
export const LINEAR_WG = 'let wgi = wid.x + wid.y * nwg.x;';
