/**
 * Synthetic weights for the benchmarks: bx blobs at about 2.9 bits per code
 * (G = 64, 45% of the groups 4-bit and the rest 2-bit, 8-bit second-order
 * scales in 16×1 tiles, no outliers: the SPEC §3.8 configuration) and f16
 * matrices, filled with pseudo-random bits. The bx layout is computed from
 * SPEC §3 and checked by @bitexit/format's parseBx.
 */
import { parseBx } from '@bitexit/format';

const a16 = (x: number) => Math.ceil(x / 16) * 16;

function fillRandom(u32: Uint32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u32[i] = s >>> 0;
  }
}

/** A valid bx blob [N, K] (K a multiple of 64). */
export function syntheticBx(N: number, K: number, seed = 1): Uint8Array {
  const G = 64;
  if (K % G) throw new Error('syntheticBx: K must be a multiple of 64');
  const nG = K / G;
  const widths = Array.from({ length: nG }, (_, g) => ((g * 9) % 20 < 9 ? 4 : 2));
  const n4 = widths.filter((b) => b === 4).length;
  const n2 = nG - n4;
  const W4 = (G / 8) * n4;
  const W2 = (G / 16) * n2;
  const sumB = widths.reduce((a, b) => a + b, 0);
  const F = 8;
  const SR = 16;
  const SG = 1;
  const M = nG * F + sumB;
  const o4 = a16(28 + Math.ceil(nG / 4));
  const o2 = a16(o4 + 4 * N * W4);
  const o1 = a16(o2 + 4 * N * W2);
  const oM = o1;
  const metaBytes = 4 * Math.ceil((N * M) / 32);
  const oS = oM + metaBytes;
  const tileCols = Math.ceil(nG / SG);
  const T = 4 * Math.ceil(N / SR) * tileCols;
  const end = a16(oS + T);
  const blob = new Uint8Array(end);
  const dv = new DataView(blob.buffer);
  dv.setUint32(0, 0x464d5842, true);
  dv.setUint16(4, 1, true);
  dv.setUint16(6, G, true);
  dv.setUint32(8, N, true);
  dv.setUint32(12, K, true);
  blob[16] = 1;
  blob[17] = F;
  blob[18] = SR;
  blob[19] = SG;
  dv.setUint32(20, 0, true);
  dv.setUint32(24, end, true);
  for (let g = 0; g < nG; g++) blob[28 + (g >> 2)] |= (widths[g] - 2) << (2 * (g & 3));
  // Codes and meta (scale codes and zeros: any bits are valid), then clear the meta tail bits.
  fillRandom(new Uint32Array(blob.buffer, o4, (oS - o4) / 4), seed);
  const metaWords = new Uint32Array(blob.buffer, oM, metaBytes / 4);
  const usedBits = N * M;
  const lastWord = Math.floor(usedBits / 32);
  if (lastWord < metaWords.length) {
    const keep = usedBits % 32;
    metaWords[lastWord] &= keep ? (2 ** keep - 1) >>> 0 : 0;
    for (let i = lastWord + 1; i < metaWords.length; i++) metaWords[i] = 0;
  }
  // Tiles: step d = 2^-10, minimum m = 2^-8 (finite f16s); scales land in [2^-8, 2^-8 + 255·2^-10].
  const tiles = new Uint32Array(blob.buffer, oS, T / 4);
  tiles.fill((0x1400 | (0x1c00 << 16)) >>> 0);
  parseBx(blob, `synthetic bx [${N}, ${K}]`);
  return blob;
}

/** f16 [N, K] with values in ±[1, 2)·2^-6 (finite, no NaNs). */
export function syntheticF16(N: number, K: number, seed = 2): Uint8Array {
  const u16 = new Uint16Array(N * K);
  const r = new Uint32Array(Math.ceil(u16.length / 2));
  fillRandom(r, seed);
  const src = new Uint16Array(r.buffer, 0, u16.length);
  for (let i = 0; i < u16.length; i++) u16[i] = (src[i] & 0x83ff) | 0x2400;
  return new Uint8Array(u16.buffer);
}

export function bitsPerWeight(blob: Uint8Array, N: number, K: number): number {
  return (8 * blob.byteLength) / (N * K);
}
