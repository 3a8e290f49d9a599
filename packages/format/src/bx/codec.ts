/**
 * Encoder, validating parser, decoder and reference dequantization of the bx
 * format (SPEC.md). Everything a parser reads is checked against the blob
 * length first, so corrupt or hostile blobs give ModelFormatError.
 */
import { ModelFormatError } from '../errors.js';
import { f16Lut, f32ToF16, roundF16 } from '../f16.js';
import { BX_FLAG_SECOND_ORDER, BX_HEADER, BX_MAX_DIM, bxLayout, writeBxHeader } from './layout.js';
import { secondOrderScale } from './params.js';
import {
  BX_HEADER_BYTES,
  BX_MAGIC,
  BX_VERSION,
  type BxLayout,
  type BxMatrix,
  type BxSecondOrderParams,
  type BxView,
} from './types.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const fround = Math.fround;

function swapWords(w: Uint32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const v = w[i];
    w[i] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  }
}

/** Per-group slot indices in each plane and zero-field bit offsets (same for every row). */
export function bxGroupTables(
  widths: ArrayLike<number>,
  scaleFieldBits: number,
): { slot2: Int32Array; slot1: Int32Array; slot4: Int32Array; zeroBit: Int32Array } {
  const n = widths.length;
  const slot2 = new Int32Array(n).fill(-1);
  const slot1 = new Int32Array(n).fill(-1);
  const slot4 = new Int32Array(n).fill(-1);
  const zeroBit = new Int32Array(n);
  let s2 = 0;
  let s1 = 0;
  let s4 = 0;
  let bit = n * scaleFieldBits;
  for (let g = 0; g < n; g++) {
    const b = widths[g];
    if (b === 4) slot4[g] = s4++;
    else {
      slot2[g] = s2++;
      if (b === 3) slot1[g] = s1++;
    }
    zeroBit[g] = bit;
    bit += b;
  }
  return { slot2, slot1, slot4, zeroBit };
}

/** Reads an n-bit field (n <= 16) at bit offset `bit` of the bitstream starting at word `base` (LSB first). */
export function readBits(w: Uint32Array, base: number, bit: number, n: number): number {
  const word = base + (bit >>> 5);
  const sh = bit & 31;
  let v = w[word] >>> sh;
  if (sh + n > 32) v |= w[word + 1] << (32 - sh);
  return v & ((1 << n) - 1);
}

function writeBits(w: Uint32Array, base: number, bit: number, n: number, value: number): void {
  const word = base + (bit >>> 5);
  const sh = bit & 31;
  w[word] |= value << sh;
  if (sh + n > 32) w[word + 1] |= value >>> (32 - sh);
}

/**
 * Encodes a quantized matrix as a bx blob. Validates every field (shapes,
 * widths, code ranges, integral zeros, representable scales, outlier bounds,
 * duplicates and f16 values) and throws ModelFormatError otherwise. Codes at
 * outlier positions are stored as the group's zero (SPEC.md §5), and outliers
 * are stored sorted by (row, col) whatever their input order.
 */
export function encodeBx(m: BxMatrix, name = 'encodeBx'): Uint8Array {
  const fail = (problem: string): never => {
    throw new ModelFormatError(name, problem);
  };
  if (!m || typeof m !== 'object') fail('no matrix given');
  const o = m.outliers;
  if (!o || !(o.rows instanceof Uint32Array) || !(o.cols instanceof Uint32Array) || !(o.values instanceof Float32Array)) {
    fail('outliers must be { rows: Uint32Array, cols: Uint32Array, values: Float32Array }');
  }
  if (o.cols.length !== o.rows.length || o.values.length !== o.rows.length) {
    fail(`outlier arrays differ in length (${o.rows.length} rows, ${o.cols.length} cols, ${o.values.length} values)`);
  }
  if (!(m.widths instanceof Uint8Array)) fail('widths must be a Uint8Array');
  // Outliers per row (ELL: every row gets the same number of slots).
  const nOut = o.rows.length;
  if (!Number.isSafeInteger(m.rows) || m.rows < 1 || m.rows > BX_MAX_DIM) fail(`rows ${m.rows} must be an integer in 1..${BX_MAX_DIM}`);
  const perRow = new Uint32Array(m.rows);
  for (let i = 0; i < nOut; i++) {
    if (o.rows[i] >= m.rows) fail(`outlier ${i} row ${o.rows[i]} is outside 0..${m.rows - 1}`);
    perRow[o.rows[i]]++;
  }
  let maxPerRow = 0;
  for (let r = 0; r < m.rows; r++) maxPerRow = Math.max(maxPerRow, perRow[r]);
  const slots = m.outlierSlots ?? maxPerRow;
  if (!Number.isSafeInteger(slots) || slots < maxPerRow) fail(`outlierSlots ${String(m.outlierSlots)} is less than the ${maxPerRow} outliers of the fullest row`);
  const L = bxLayout(
    {
      rows: m.rows,
      cols: m.cols,
      groupSize: m.groupSize,
      widths: m.widths,
      secondOrder: m.secondOrder,
      superGroup: m.superGroup,
      scaleBits: m.scaleBits,
      outlierSlots: slots,
    },
    name,
  );
  const { rows: N, cols: K, groupSize: G, nGroups } = L;
  if (!(m.codes instanceof Uint8Array) || m.codes.length !== N * K) fail(`codes must be a Uint8Array of rows*cols = ${N * K}`);
  if (!(m.scales instanceof Float32Array) || m.scales.length !== N * nGroups) fail(`scales must be a Float32Array of rows*nGroups = ${N * nGroups}`);
  if (!(m.zeros instanceof Float32Array) || m.zeros.length !== N * nGroups) fail(`zeros must be a Float32Array of rows*nGroups = ${N * nGroups}`);
  const widths = m.widths;

  // Zeros and codes.
  for (let r = 0; r < N; r++) {
    for (let g = 0; g < nGroups; g++) {
      const z = m.zeros[r * nGroups + g];
      const top = (1 << widths[g]) - 1;
      if (!Number.isInteger(z) || z < 0 || z > top) fail(`zero ${z} at row ${r}, group ${g} must be an integer in 0..${top}`);
    }
    const base = r * K;
    for (let c = 0; c < K; c++) {
      const q = m.codes[base + c];
      if (q >>> widths[(c / G) | 0] !== 0) fail(`code ${q} at row ${r}, col ${c} does not fit ${widths[(c / G) | 0]} bits`);
    }
  }

  // Scales: what the file stores must reproduce m.scales exactly.
  let so: BxSecondOrderParams | null = null;
  if (!L.secondOrder) {
    for (let i = 0; i < m.scales.length; i++) {
      const s = m.scales[i];
      if (!Number.isFinite(s) || roundF16(s) !== s) {
        fail(`scale ${s} at row ${Math.floor(i / nGroups)}, group ${i % nGroups} is not a finite f16 value (use representableGroupParams)`);
      }
    }
  } else {
    const tiles = L.tileRows * L.tileCols;
    so = m.secondOrderParams ?? null;
    if (so === null) {
      // Derive with the standard algorithm; it must reproduce the scales.
      so = deriveSecondOrder(m.scales, L);
    }
    if (!(so.d instanceof Float32Array) || so.d.length !== tiles || !(so.m instanceof Float32Array) || so.m.length !== tiles) {
      fail(`second-order d and m must be Float32Arrays of ${L.tileRows}x${L.tileCols} = ${tiles} tiles`);
    }
    if (!(so.codes instanceof Uint8Array) || so.codes.length !== N * nGroups) fail(`second-order codes must be a Uint8Array of rows*nGroups = ${N * nGroups}`);
    for (let t = 0; t < tiles; t++) {
      for (const v of [so.d[t], so.m[t]]) if (!Number.isFinite(v) || roundF16(v) !== v) fail(`second-order parameter ${v} of tile ${t} is not a finite f16 value`);
    }
    for (let r = 0; r < N; r++) {
      const tr = Math.floor(r / L.superRows);
      for (let g = 0; g < nGroups; g++) {
        const i = r * nGroups + g;
        const t = tr * L.tileCols + Math.floor(g / L.superGroups);
        const code = so.codes[i];
        if (code >>> L.scaleBits !== 0) fail(`scale code ${code} at row ${r}, group ${g} does not fit ${L.scaleBits} bits`);
        const s = secondOrderScale(so.d[t], code, so.m[t]);
        if (s !== m.scales[i]) {
          fail(
            `scale ${m.scales[i]} at row ${r}, group ${g} is not what the second-order parameters give (${s}); ` +
              'pass the scales and secondOrder params returned by representableGroupParams',
          );
        }
      }
    }
  }

  // Outliers: sort by (row, col), check bounds, duplicates and f16 values.
  const order = new Uint32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    if (o.cols[i] >= K) fail(`outlier ${i} col ${o.cols[i]} is outside 0..${K - 1}`);
    const v = o.values[i];
    if (!Number.isFinite(v) || roundF16(v) !== v) fail(`outlier ${i} value ${v} is not a finite f16 value`);
    if (v === 0) fail(`outlier ${i} (row ${o.rows[i]}, col ${o.cols[i]}) has value 0: a zero weight needs no outlier (its code = the zero gives exactly 0)`);
    order[i] = i;
  }
  order.sort((a, b) => o.rows[a] - o.rows[b] || o.cols[a] - o.cols[b]);
  for (let i = 1; i < nOut; i++) {
    const a = order[i - 1];
    const b = order[i];
    if (o.rows[a] === o.rows[b] && o.cols[a] === o.cols[b]) fail(`two outliers at row ${o.rows[a]}, col ${o.cols[a]}`);
  }

  const out = new Uint8Array(L.byteLength);
  const w = new Uint32Array(out.buffer);
  const { slot2, slot1, slot4, zeroBit } = bxGroupTables(widths, L.scaleFieldBits);
  const isOutlier = nOut > 0 ? new Uint8Array(K) : null;
  let next = 0;
  const gw4 = G / 8;
  const gw2 = G / 16;
  const gw1 = G / 32;
  const metaWord = L.metaOffset >>> 2;
  const F = L.scaleFieldBits;
  for (let r = 0; r < N; r++) {
    const p4 = (L.p4Offset >>> 2) + r * L.p4RowWords;
    const p2 = (L.p2Offset >>> 2) + r * L.p2RowWords;
    const p1 = (L.p1Offset >>> 2) + r * L.p1RowWords;
    const rowBit = r * L.metaBits;
    const meta = metaWord + Math.floor(rowBit / 32);
    const bit0 = rowBit % 32;
    const rowStartOutlier = next;
    if (isOutlier) {
      while (next < nOut && o.rows[order[next]] === r) isOutlier[o.cols[order[next++]]] = 1;
    }
    for (let g = 0; g < nGroups; g++) {
      const b = widths[g];
      const z = m.zeros[r * nGroups + g];
      const c0 = g * G;
      const cEnd = Math.min(K, c0 + G);
      for (let c = c0; c < cEnd; c++) {
        const i = c - c0;
        const q = isOutlier !== null && isOutlier[c] ? z : m.codes[r * K + c];
        if (b === 4) {
          w[p4 + slot4[g] * gw4 + (i >>> 3)] |= q << ((i & 7) * 4);
        } else {
          w[p2 + slot2[g] * gw2 + (i >>> 4)] |= (q & 3) << ((i & 15) * 2);
          if (b === 3) w[p1 + slot1[g] * gw1 + (i >>> 5)] |= (q >>> 2) << (i & 31);
        }
      }
      const scaleField = so === null ? f32ToF16(m.scales[r * nGroups + g]) : so.codes[r * nGroups + g];
      writeBits(w, meta, bit0 + g * F, F, scaleField);
      writeBits(w, meta, bit0 + zeroBit[g], b, z);
    }
    if (isOutlier) for (let k = rowStartOutlier; k < next; k++) isOutlier[o.cols[order[k]]] = 0;
  }
  if (so !== null) {
    const s2 = L.s2Offset >>> 2;
    for (let t = 0; t < L.tileRows * L.tileCols; t++) w[s2 + t] = (f32ToF16(so.d[t]) | (f32ToF16(so.m[t]) << 16)) >>> 0;
  }
  if (nOut > 0) {
    const en = L.outlierOffset >>> 2;
    let k = 0;
    for (let r = 0; r < N; r++) {
      let j = 0;
      while (k < nOut && o.rows[order[k]] === r) {
        const i = order[k];
        w[en + r * slots + j] = (o.cols[i] | (f32ToF16(o.values[i]) << 16)) >>> 0;
        k++;
        j++;
      }
    }
  }
  if (!LITTLE_ENDIAN) swapWords(w, L.p4Offset >>> 2, L.byteLength >>> 2);
  writeBxHeader(new DataView(out.buffer), L);
  for (let g = 0; g < nGroups; g++) out[L.widthMapOffset + (g >>> 2)] |= (widths[g] - 2) << ((g & 3) * 2);
  return out;
}

/** The standard second-order algorithm applied to already-final scales (encodeBx without secondOrderParams). */
function deriveSecondOrder(scales: Float32Array, L: BxLayout): BxSecondOrderParams {
  const qmax = (1 << L.scaleBits) - 1;
  const tiles = L.tileRows * L.tileCols;
  const so: BxSecondOrderParams = { d: new Float32Array(tiles), m: new Float32Array(tiles), codes: new Uint8Array(scales.length) };
  const { rows: N, nGroups } = L;
  for (let tr = 0; tr < L.tileRows; tr++) {
    const r0 = tr * L.superRows;
    const r1 = Math.min(N, r0 + L.superRows);
    for (let tc = 0; tc < L.tileCols; tc++) {
      const g0 = tc * L.superGroups;
      const g1 = Math.min(nGroups, g0 + L.superGroups);
      let lo = Infinity;
      let hi = -Infinity;
      for (let r = r0; r < r1; r++) {
        for (let g = g0; g < g1; g++) {
          const s = scales[r * nGroups + g];
          if (!Number.isFinite(s)) throw new ModelFormatError('encodeBx', `scale ${s} at row ${r}, group ${g} is not finite`);
          lo = Math.min(lo, s);
          hi = Math.max(hi, s);
        }
      }
      const m = roundF16(lo);
      const d = roundF16(Math.max(0, (hi - m) / qmax));
      const t = tr * L.tileCols + tc;
      so.d[t] = Number.isFinite(d) ? d : 0;
      so.m[t] = Number.isFinite(m) ? m : 0;
      for (let r = r0; r < r1; r++) {
        for (let g = g0; g < g1; g++) {
          const i = r * nGroups + g;
          so.codes[i] = d > 0 && Number.isFinite(d) ? Math.min(qmax, Math.max(0, Math.round((scales[i] - m) / d))) : 0;
        }
      }
    }
  }
  return so;
}

/**
 * Validates a blob and returns views of its tables. Checks: length, magic,
 * version, every header field against its range and the size formulas of
 * SPEC.md §3 (so every offset lies inside the blob), the width map and its
 * padding, finite f16 scales and second-order parameters, and the outlier
 * table (sorted in-range columns, finite non-zero f16 values, zero padding
 * slots after the entries, codes equal to the zero). Throws ModelFormatError
 * naming `name`; never reads out of bounds.
 */
export function parseBx(bytes: Uint8Array, name = 'bx matrix'): BxView {
  const fail = (problem: string): never => {
    throw new ModelFormatError(name, problem);
  };
  if (!(bytes instanceof Uint8Array)) fail('bx blob must be a Uint8Array');
  if (bytes.byteLength < BX_HEADER_BYTES) fail(`bx blob of ${bytes.byteLength} bytes is shorter than its ${BX_HEADER_BYTES}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = BX_HEADER;
  const u32 = (at: number) => dv.getUint32(at, true);
  const magic = u32(H.magic);
  if (magic !== BX_MAGIC) fail(`not a bx blob (magic 0x${magic.toString(16).padStart(8, '0')}, expected 'BXMF')`);
  const version = dv.getUint16(H.version, true);
  if (version !== BX_VERSION) fail(`unsupported bx format version ${version} (this build reads version ${BX_VERSION})`);
  const flags = bytes[H.flags];
  if ((flags & ~BX_FLAG_SECOND_ORDER) !== 0) fail(`unknown flags 0x${flags.toString(16)}`);
  const secondOrder = (flags & BX_FLAG_SECOND_ORDER) !== 0;
  const rows = u32(H.rows);
  const cols = u32(H.cols);
  const groupSize = dv.getUint16(H.groupSize, true);
  const scaleBits = bytes[H.scaleBits];
  const superRows = bytes[H.superRows];
  const superGroups = bytes[H.superGroups];
  const byteLength = u32(H.byteLength);
  if (byteLength !== bytes.byteLength) fail(`header says ${byteLength} bytes but the blob has ${bytes.byteLength}; truncated or corrupt`);
  if (groupSize !== 32 && groupSize !== 64 && groupSize !== 128) fail(`group size ${groupSize} must be 32, 64 or 128`);
  if (cols < 1 || cols > BX_MAX_DIM || rows < 1 || rows > BX_MAX_DIM) fail(`invalid shape [${rows}, ${cols}]`);
  const nGroups = Math.ceil(cols / groupSize);
  const mapEnd = BX_HEADER_BYTES + Math.ceil(nGroups / 4);
  if (mapEnd > bytes.byteLength) fail(`width map of ${nGroups} groups extends past the blob`);
  const widths = new Uint8Array(nGroups);
  for (let g = 0; g < nGroups; g++) {
    const code = (bytes[BX_HEADER_BYTES + (g >>> 2)] >>> ((g & 3) * 2)) & 3;
    if (code === 3) fail(`column group ${g} has width code 3 (widths are 2, 3, 4)`);
    widths[g] = 2 + code;
  }
  if (nGroups % 4 !== 0 && bytes[mapEnd - 1] >>> ((nGroups % 4) * 2) !== 0) fail('width map padding bits are not 0');
  if (!secondOrder && (scaleBits !== 0 || superRows !== 0 || superGroups !== 0)) {
    fail('scale bits and super-group must be 0 when second-order scales are off');
  }
  const L = bxLayout(
    {
      rows,
      cols,
      groupSize,
      widths,
      secondOrder,
      scaleBits,
      superGroup: secondOrder ? { rows: superRows, groups: superGroups } : undefined,
      outlierSlots: u32(H.outlierSlots),
    },
    name,
  );
  if (L.byteLength !== bytes.byteLength) fail(`blob has ${bytes.byteLength} bytes, the layout needs ${L.byteLength}`);
  for (let i = mapEnd; i < L.p4Offset; i++) if (bytes[i] !== 0) fail(`width map padding byte ${i} is not 0`);

  let words: Uint32Array;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  } else {
    words = new Uint32Array(bytes.byteLength >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = dv.getUint32(i * 4, true);
  }
  const tables = bxGroupTables(widths, L.scaleFieldBits);
  const view: BxView = { name, bytes, layout: L, widths, words, ...tables, outlierCount: 0 };

  // Scales: f16 fields must be finite; second-order d and m too.
  if (!secondOrder) {
    for (let r = 0; r < rows; r++) {
      const [meta, bit0] = metaBase(L, r);
      for (let g = 0; g < nGroups; g++) {
        const h = readBits(words, meta, bit0 + g * 16, 16);
        if ((h & 0x7c00) === 0x7c00) fail(`scale of row ${r}, group ${g} is not finite (f16 0x${h.toString(16)})`);
      }
    }
  } else {
    const s2 = L.s2Offset >>> 2;
    for (let t = 0; t < L.tileRows * L.tileCols; t++) {
      const v = words[s2 + t];
      if ((v & 0x7c00) === 0x7c00 || ((v >>> 16) & 0x7c00) === 0x7c00) fail(`second-order parameters of tile ${t} are not finite (0x${v.toString(16)})`);
    }
  }
  // Outliers (ELL): per row, entries with strictly increasing columns, then zero words.
  let count = 0;
  const C = L.outlierSlots;
  if (C > 0) {
    const en = L.outlierOffset >>> 2;
    for (let r = 0; r < rows; r++) {
      let prev = -1;
      let padding = false;
      for (let j = 0; j < C; j++) {
        const e = words[en + r * C + j];
        if (e === 0) {
          padding = true;
          continue;
        }
        if (padding) fail(`outlier slot ${j} of row ${r} follows an empty slot (entries must come first)`);
        const c = e & 0xffff;
        const h = e >>> 16;
        if (c >= cols) fail(`outlier slot ${j} of row ${r} has column ${c} outside 0..${cols - 1}`);
        if (c <= prev) fail(`outliers of row ${r} are not in strictly increasing column order`);
        prev = c;
        if ((h & 0x7c00) === 0x7c00) fail(`outlier of row ${r}, col ${c} is not finite (f16 0x${h.toString(16)})`);
        if ((h & 0x7fff) === 0) fail(`outlier of row ${r}, col ${c} has value 0 (zero weights need no outlier)`);
        const g = (c / groupSize) | 0;
        const q = readCode(view, r, c);
        const [meta, bit0] = metaBase(L, r);
        const z = readBits(words, meta, bit0 + tables.zeroBit[g], widths[g]);
        if (q !== z) fail(`code ${q} at outlier row ${r}, col ${c} must equal the group's zero ${z}`);
        count++;
      }
    }
  }
  return { ...view, outlierCount: count };
}

/** First word of row r's meta bits and the bit offset of the row inside it. */
export function metaBase(L: BxLayout, r: number): [number, number] {
  const bit = r * L.metaBits;
  return [(L.metaOffset >>> 2) + Math.floor(bit / 32), bit % 32];
}

/** Code at (r, c) (reads the planes; no bounds checks beyond the view's). */
export function readCode(v: BxView, r: number, c: number): number {
  const L = v.layout;
  const G = L.groupSize;
  const g = (c / G) | 0;
  const i = c - g * G;
  const w = v.words;
  const b = v.widths[g];
  if (b === 4) return (w[(L.p4Offset >>> 2) + r * L.p4RowWords + v.slot4[g] * (G / 8) + (i >>> 3)] >>> ((i & 7) * 4)) & 15;
  let q = (w[(L.p2Offset >>> 2) + r * L.p2RowWords + v.slot2[g] * (G / 16) + (i >>> 4)] >>> ((i & 15) * 2)) & 3;
  if (b === 3) q |= ((w[(L.p1Offset >>> 2) + r * L.p1RowWords + v.slot1[g] * (G / 32) + (i >>> 5)] >>> (i & 31)) & 1) << 2;
  return q;
}

/**
 * Decodes row r's first-order scales and zeros (nGroups each) into the given
 * arrays: the exact f32 values of SPEC.md §4.
 */
export function bxRowParams(v: BxView, r: number, scales: Float32Array, zeros: Float32Array): void {
  const L = v.layout;
  const w = v.words;
  const lut = f16Lut();
  const [meta, bit0] = metaBase(L, r);
  const F = L.scaleFieldBits;
  if (!L.secondOrder) {
    for (let g = 0; g < L.nGroups; g++) scales[g] = lut[readBits(w, meta, bit0 + g * 16, 16)];
  } else {
    const s2 = (L.s2Offset >>> 2) + Math.floor(r / L.superRows) * L.tileCols;
    for (let g = 0; g < L.nGroups; g++) {
      const p = w[s2 + Math.floor(g / L.superGroups)];
      scales[g] = secondOrderScale(lut[p & 0xffff], readBits(w, meta, bit0 + g * F, F), lut[p >>> 16]);
    }
  }
  for (let g = 0; g < L.nGroups; g++) zeros[g] = readBits(w, meta, bit0 + v.zeroBit[g], v.widths[g]);
}

function asView(src: Uint8Array | BxView, name: string): BxView {
  return src instanceof Uint8Array ? parseBx(src, name) : src;
}

/**
 * Reference dequantization (SPEC.md §4): rows*cols f32 values, row-major,
 * W[r, c] = fround(s * (q - z)), then every outlier replaces its position.
 */
export function dequantizeBx(src: Uint8Array | BxView, name = 'bx matrix'): Float32Array {
  const v = asView(src, name);
  const out = new Float32Array(v.layout.rows * v.layout.cols);
  dequantizeBxRows(v, 0, v.layout.rows, out, 0);
  return out;
}

/**
 * Dequantizes rows r0..r0+count-1 (exactly as dequantizeBx) into
 * out[offset..offset + count*cols), one u32 word of codes at a time.
 * `scratch`, when given, holds at least 2*nGroups floats (reused between calls).
 */
export function dequantizeBxRows(v: BxView, r0: number, count: number, out: Float32Array, offset: number, scratch?: Float32Array): void {
  const L = v.layout;
  const { cols: K, groupSize: G, nGroups } = L;
  if (!(r0 >= 0 && count >= 0 && r0 + count <= L.rows)) throw new RangeError(`rows ${r0}..${r0 + count} outside 0..${L.rows}`);
  const tmp = scratch && scratch.length >= 2 * nGroups ? scratch : new Float32Array(2 * nGroups);
  const scales = tmp.subarray(0, nGroups);
  const zeros = tmp.subarray(nGroups, 2 * nGroups);
  const w = v.words;
  const lut = f16Lut();
  const C = L.outlierSlots;
  const en = L.outlierOffset >>> 2;
  for (let r = r0; r < r0 + count; r++) {
    bxRowParams(v, r, scales, zeros);
    const p4 = (L.p4Offset >>> 2) + r * L.p4RowWords;
    const p2 = (L.p2Offset >>> 2) + r * L.p2RowWords;
    const p1 = (L.p1Offset >>> 2) + r * L.p1RowWords;
    const rowOut = offset + (r - r0) * K;
    for (let g = 0; g < nGroups; g++) {
      const s = scales[g];
      const z = zeros[g];
      const c0 = g * G;
      const m = Math.min(G, K - c0);
      const o = rowOut + c0;
      const b = v.widths[g];
      if (b === 4) {
        const base = p4 + v.slot4[g] * (G >>> 3);
        for (let i = 0; i < m; i++) out[o + i] = fround(s * (((w[base + (i >>> 3)] >>> ((i & 7) << 2)) & 15) - z));
      } else if (b === 2) {
        const base = p2 + v.slot2[g] * (G >>> 4);
        for (let i = 0; i < m; i++) out[o + i] = fround(s * (((w[base + (i >>> 4)] >>> ((i & 15) << 1)) & 3) - z));
      } else {
        const base = p2 + v.slot2[g] * (G >>> 4);
        const hb = p1 + v.slot1[g] * (G >>> 5);
        for (let i = 0; i < m; i++) {
          const q = ((w[base + (i >>> 4)] >>> ((i & 15) << 1)) & 3) | (((w[hb + (i >>> 5)] >>> (i & 31)) & 1) << 2);
          out[o + i] = fround(s * (q - z));
        }
      }
    }
    for (let j = 0; j < C; j++) {
      const e = w[en + r * C + j];
      if (e === 0) break;
      out[rowOut + (e & 0xffff)] = lut[e >>> 16];
    }
  }
}

/**
 * Unpacks the codes of group g of row r into `out` (G entries; for a partial
 * last group, the stored padding codes up to the word boundary, then zeros).
 */
export function unpackGroupCodes(v: BxView, r: number, g: number, out: Uint8Array): void {
  const L = v.layout;
  const G = L.groupSize;
  const w = v.words;
  const m = g === L.nGroups - 1 ? L.lastGroupCols : G;
  out.fill(0, 0, G);
  const b = v.widths[g];
  if (b === 4) {
    const base = (L.p4Offset >>> 2) + r * L.p4RowWords + v.slot4[g] * (G / 8);
    for (let k = 0; k < Math.ceil(m / 8); k++) {
      const x = w[base + k];
      for (let j = 0; j < 8; j++) out[k * 8 + j] = (x >>> (j * 4)) & 15;
    }
    return;
  }
  const base = (L.p2Offset >>> 2) + r * L.p2RowWords + v.slot2[g] * (G / 16);
  for (let k = 0; k < Math.ceil(m / 16); k++) {
    const x = w[base + k];
    for (let j = 0; j < 16; j++) out[k * 16 + j] = (x >>> (j * 2)) & 3;
  }
  if (b === 3) {
    const hb = (L.p1Offset >>> 2) + r * L.p1RowWords + v.slot1[g] * (G / 32);
    for (let k = 0; k < Math.ceil(m / 32); k++) {
      const x = w[hb + k];
      for (let j = 0; j < 32; j++) out[k * 32 + j] |= ((x >>> j) & 1) << 2;
    }
  }
}

/** Calls fn(row, col, value) for every outlier, in (row, col) order. */
export function applyOutliers(v: BxView, fn: (r: number, c: number, value: number) => void): void {
  const L = v.layout;
  const C = L.outlierSlots;
  if (C === 0) return;
  const lut = f16Lut();
  const en = L.outlierOffset >>> 2;
  for (let r = 0; r < L.rows; r++) {
    for (let j = 0; j < C; j++) {
      const e = v.words[en + r * C + j];
      if (e === 0) break;
      fn(r, e & 0xffff, lut[e >>> 16]);
    }
  }
}

/** Decodes a blob back to the BxMatrix encodeBx takes (codes at outlier positions are the zeros). */
export function decodeBx(src: Uint8Array | BxView, name = 'bx matrix'): BxMatrix {
  const v = asView(src, name);
  const L = v.layout;
  const { rows: N, cols: K, groupSize: G, nGroups } = L;
  const codes = new Uint8Array(N * K);
  const scales = new Float32Array(N * nGroups);
  const zeros = new Float32Array(N * nGroups);
  const tmp = new Uint8Array(G);
  for (let r = 0; r < N; r++) {
    bxRowParams(v, r, scales.subarray(r * nGroups, (r + 1) * nGroups), zeros.subarray(r * nGroups, (r + 1) * nGroups));
    for (let g = 0; g < nGroups; g++) {
      unpackGroupCodes(v, r, g, tmp);
      const c0 = g * G;
      codes.set(tmp.subarray(0, Math.min(G, K - c0)), r * K + c0);
    }
  }
  const oRows: number[] = [];
  const oCols: number[] = [];
  const oVals: number[] = [];
  applyOutliers(v, (r, c, value) => {
    oRows.push(r);
    oCols.push(c);
    oVals.push(value);
  });
  const m: BxMatrix = {
    rows: N,
    cols: K,
    groupSize: G,
    widths: v.widths.slice(),
    codes,
    scales,
    zeros,
    outliers: { rows: Uint32Array.from(oRows), cols: Uint32Array.from(oCols), values: Float32Array.from(oVals) },
    secondOrder: L.secondOrder,
  };
  if (L.outlierSlots > 0) m.outlierSlots = L.outlierSlots;
  if (L.secondOrder) {
    const lut = f16Lut();
    const tiles = L.tileRows * L.tileCols;
    const so: BxSecondOrderParams = { d: new Float32Array(tiles), m: new Float32Array(tiles), codes: new Uint8Array(N * nGroups) };
    const s2 = L.s2Offset >>> 2;
    for (let t = 0; t < tiles; t++) {
      so.d[t] = lut[v.words[s2 + t] & 0xffff];
      so.m[t] = lut[v.words[s2 + t] >>> 16];
    }
    for (let r = 0; r < N; r++) {
      const [meta, bit0] = metaBase(L, r);
      for (let g = 0; g < nGroups; g++) so.codes[r * nGroups + g] = readBits(v.words, meta, bit0 + g * L.scaleFieldBits, L.scaleFieldBits);
    }
    m.superGroup = { rows: L.superRows, groups: L.superGroups };
    m.scaleBits = L.scaleBits;
    m.secondOrderParams = so;
  }
  return m;
}

/** Bits per weight of a blob, counting every byte: 8 * byteLength / (rows * cols). */
export function bxBitsPerWeight(src: Uint8Array | BxView, name = 'bx matrix'): number {
  return asView(src, name).layout.bitsPerWeight;
}

/** The logical [rows, cols] of a blob from its header alone (checks magic, version and length only). */
export function bxShape(bytes: Uint8Array, name = 'bx matrix'): [number, number] {
  if (bytes.byteLength < BX_HEADER_BYTES) throw new ModelFormatError(name, `bx blob of ${bytes.byteLength} bytes is shorter than its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(BX_HEADER.magic, true) !== BX_MAGIC) throw new ModelFormatError(name, `not a bx blob (bad magic)`);
  if (dv.getUint16(BX_HEADER.version, true) !== BX_VERSION) throw new ModelFormatError(name, `unsupported bx format version ${dv.getUint16(BX_HEADER.version, true)}`);
  const rows = dv.getUint32(BX_HEADER.rows, true);
  const cols = dv.getUint32(BX_HEADER.cols, true);
  if (rows < 1 || cols < 1 || rows > 0x7fffffff || cols > 0x7fffffff) throw new ModelFormatError(name, `bx header has invalid shape [${rows}, ${cols}]`);
  return [rows, cols];
}
