/**
 * Bits per weight of candidate bx layouts (SPEC.md §3.8 table). Run from packages/format:
 *   npx vite-node scripts/bx-overhead.ts
 * Every candidate counts every byte of the blob. Second-order scales on
 * (8-bit codes, 16×1 tiles), G = 64. Candidates, cumulative:
 *   v1/16   the first layout: 128-byte header, per-row records aligned to 16 bytes,
 *           per-row meta padded to a u32, partial last group padded to G, CSR outliers
 *   v1/4    the same with 4-byte row records
 *   +hdr    28-byte header + 2-bit width map (32 bytes up to 16 groups)
 *   +meta   code planes per width (dense rows, each plane 16-byte aligned) and one dense meta plane
 *   +tail   partial last group stored up to its last u32 word  (= the final layout)
 * Outlier tables at 0.5% (nO = ceil(0.005·N·K), balanced: C = ceil(nO/N) per row):
 *   CSR     u32 rowStart[N+1] + u32 (u16 col | f16) per outlier            (v1)
 *   list    u32 (row·K + col) + f16 per outlier, u32 start per 64 rows
 *   ELL     C u32 slots (u16 col | f16) per row                               (final)
 */
import { bxLayout } from '../src/bx/layout.js';

const A = (x: number, a: number) => Math.ceil(x / a) * a;
const G = 64;
const F = 8;
const SR = 16;

function counts(widths: number[]) {
  const n = [0, 0, 0, 0, 0];
  for (const b of widths) n[b]++;
  return n;
}

function v1(N: number, K: number, widths: number[], rowAlign: number, header = 128, mapBytes?: number): number {
  const nG = widths.length;
  const n = counts(widths);
  const sumB = widths.reduce((a, b) => a + b, 0);
  const R = A((G / 8) * (4 * n[4] + 2 * (n[2] + n[3]) + n[3]) + 4 * Math.ceil((nG * F + sumB) / 32), rowAlign);
  const map = mapBytes ?? A(nG, 16);
  const B0 = header + map + N * R;
  const B1 = A(B0, 16) + 4 * Math.ceil(N / SR) * nG;
  return A(B1, 16);
}

function planes(N: number, K: number, widths: number[], tail: boolean): number {
  const nG = widths.length;
  const n = counts(widths);
  const m = tail ? K - (nG - 1) * G : G;
  const last = widths[nG - 1];
  const W4 = (G / 8) * n[4] - (last === 4 ? G / 8 - Math.ceil(m / 8) : 0);
  const W2 = (G / 16) * (n[2] + n[3]) - (last !== 4 ? G / 16 - Math.ceil(m / 16) : 0);
  const W1 = (G / 32) * n[3] - (last === 3 ? G / 32 - Math.ceil(m / 32) : 0);
  const sumB = widths.reduce((a, b) => a + b, 0);
  const P = A(A(A(28 + Math.ceil(nG / 4), 16) + 4 * N * W4, 16) + 4 * N * W2, 16) + 4 * N * W1;
  return A(P + 4 * Math.ceil((N * (nG * F + sumB)) / 32) + 4 * Math.ceil(N / SR) * nG, 16);
}

function candidates(N: number, K: number, widths: number[]) {
  const final = bxLayout({ rows: N, cols: K, groupSize: G, widths, secondOrder: true, outlierSlots: 0 }).byteLength;
  const tail = planes(N, K, widths, true);
  if (final !== tail) throw new Error(`formula mismatch ${final} ${tail}`);
  return {
    'v1/16': v1(N, K, widths, 16),
    'v1/4': v1(N, K, widths, 4),
    '+hdr': v1(N, K, widths, 4, 28, A(28 + Math.ceil(widths.length / 4), 16) - 28),
    '+meta': planes(N, K, widths, false),
    '+tail': final,
  };
}

function outlierBytes(N: number, K: number) {
  const nO = Math.ceil(0.005 * N * K);
  const C = Math.ceil(nO / N);
  return { nO, C, CSR: 4 * (N + 1) + 4 * nO, list: 6 * nO + 4 * (Math.ceil(N / 64) + 1), ELL: 4 * N * C };
}

const mix = (nG: number, frac4: number) => Array.from({ length: nG }, (_, g) => (g < Math.round(frac4 * nG) ? 4 : 2));
const shapes: Array<[string, number, number, number[]]> = [
  ['64×64 all-2', 64, 64, [2]],
  ['172×64 all-2', 172, 64, [2]],
  ['64×172 all-2', 64, 172, [2, 2, 2]],
  ['32×64 all-2', 32, 64, [2]],
  ['64×64 all-3', 64, 64, [3]],
  ['64×172 all-3', 64, 172, [3, 3, 3]],
  ['4096×4096 b̄≈2.9', 4096, 4096, mix(64, 0.45)],
  ['11008×4096 b̄≈2.9', 11008, 4096, mix(64, 0.45)],
  ['4096×11008 b̄≈2.9', 4096, 11008, mix(172, 0.45)],
];
const keys = ['v1/16', 'v1/4', '+hdr', '+meta', '+tail'] as const;
console.log(`| matrix | b̄ | ${keys.join(' | ')} | outliers 0.5%: CSR | list | ELL |`);
console.log(`|---|---|${keys.map(() => '---').join('|')}|---|---|---|`);
for (const [label, N, K, widths] of shapes) {
  const c = candidates(N, K, widths);
  const b = widths.reduce((a, x) => a + x, 0) / widths.length;
  const o = outlierBytes(N, K);
  const bpw = (bytes: number) => ((8 * bytes) / (N * K)).toFixed(3);
  console.log(`| ${label} | ${b.toFixed(3)} | ${keys.map((k) => bpw(c[k])).join(' | ')} | +${bpw(o.CSR)} | +${bpw(o.list)} | +${bpw(o.ELL)} (C=${o.C}) |`);
}
// Whole models, all 2-bit (the smallest each layout can store).
const models: Array<[string, number, number, number]> = [
  ['stories260K', 64, 172, 5],
  ['TinyStories-656K', 128, 384, 2],
];
for (const [name, d, ff, layers] of models) {
  const kv = d / 2;
  const mats: Array<[number, number]> = [[d, d], [kv, d], [kv, d], [d, d], [ff, d], [ff, d], [d, ff]];
  const tot: Record<string, number> = {};
  let weights = 0;
  for (const [N, K] of mats) {
    const c = candidates(N, K, new Array(Math.ceil(K / G)).fill(2));
    for (const k of keys) tot[k] = (tot[k] ?? 0) + layers * c[k];
    weights += layers * N * K;
  }
  console.log(`| ${name} (all 35/14 matrices) all-2 | 2 | ${keys.map((k) => ((8 * tot[k]) / weights).toFixed(3)).join(' | ')} | | | |`);
}
