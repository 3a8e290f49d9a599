import { f16ToF32 } from '../f16.js';

/*
 * Dequantization of llama.cpp's block types to f32, bit for bit as ggml's
 * reference `dequantize_row_*` (ggml/src/ggml-quants.c): every product and
 * sum is rounded to f32 in the same order as the C code (Math.fround after
 * each float operation; integer-valued intermediates are exact). Block
 * layouts follow ggml-common.h. Checked against vectors made with llama.cpp
 * (test-vectors/ggml, src/gguf/quants.test.ts).
 *
 * Each decoder reads `nBlocks` whole blocks from `src` (little-endian bytes,
 * at least nBlocks * typeSize long) and writes nBlocks * blockSize values to `dst`.
 */
export type BlockDecoder = (src: Uint8Array, dst: Float32Array, nBlocks: number) => void;

const fr = Math.fround;
const QK_K = 256;

let f16Table: Float32Array | null = null;
function half(src: Uint8Array, at: number): number {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table[src[at] | (src[at + 1] << 8)];
}

const i8 = (b: number): number => (b << 24) >> 24;

/** Q4_0: d (f16), 16 bytes of nibbles; x = (q - 8) * d; low nibbles are the first 16 values. */
export const dequantizeQ4_0: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 18;
    const d = half(src, at);
    const o = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 2 + j];
      dst[o + j] = fr(((q & 0x0f) - 8) * d);
      dst[o + j + 16] = fr(((q >> 4) - 8) * d);
    }
  }
};

/** Q4_1: d, m (f16), 16 bytes of nibbles; x = q * d + m. */
export const dequantizeQ4_1: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 20;
    const d = half(src, at);
    const m = half(src, at + 2);
    const o = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 4 + j];
      dst[o + j] = fr(fr((q & 0x0f) * d) + m);
      dst[o + j + 16] = fr(fr((q >> 4) * d) + m);
    }
  }
};

function u32(src: Uint8Array, at: number): number {
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
}

/** Q5_0: d (f16), qh (u32: 5th bits), 16 bytes of nibbles; x = (q - 16) * d. */
export const dequantizeQ5_0: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 22;
    const d = half(src, at);
    const qh = u32(src, at + 2);
    const o = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      dst[o + j] = fr((((q & 0x0f) | h0) - 16) * d);
      dst[o + j + 16] = fr((((q >> 4) | h1) - 16) * d);
    }
  }
};

/** Q5_1: d, m (f16), qh (u32), 16 bytes of nibbles; x = q * d + m. */
export const dequantizeQ5_1: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 24;
    const d = half(src, at);
    const m = half(src, at + 2);
    const qh = u32(src, at + 4);
    const o = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 8 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      dst[o + j] = fr(fr(((q & 0x0f) | h0) * d) + m);
      dst[o + j + 16] = fr(fr(((q >> 4) | h1) * d) + m);
    }
  }
};

/** Q8_0: d (f16), 32 int8; x = q * d. */
export const dequantizeQ8_0: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 34;
    const d = half(src, at);
    const o = i * 32;
    for (let j = 0; j < 32; j++) dst[o + j] = fr(i8(src[at + 2 + j]) * d);
  }
};

/** Q2_K: scales[16] (4-bit scale | 4-bit min), qs[64] (2-bit), d, dmin (f16); x = d*sc*q - dmin*m. */
export const dequantizeQ2_K: BlockDecoder = (src, dst, nBlocks) => {
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 84;
    const d = half(src, at + 80);
    const min = half(src, at + 82);
    let q = at + 16;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        for (let half16 = 0; half16 < 32; half16 += 16) {
          const sc = src[at + is++];
          const dl = fr(d * (sc & 0xf));
          const ml = fr(min * (sc >> 4));
          for (let l = 0; l < 16; l++) dst[y++] = fr(fr(dl * ((src[q + half16 + l] >> shift) & 3)) - ml);
        }
        shift += 2;
      }
      q += 32;
    }
  }
};

/** Q3_K: hmask[32], qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales), d (f16); x = d*(sc-32)*(q - (hbit ? 0 : 4)). */
export const dequantizeQ3_K: BlockDecoder = (src, dst, nBlocks) => {
  const scales = new Int8Array(16);
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 110;
    const dAll = half(src, at + 108);
    const a0 = u32(src, at + 96);
    const a1 = u32(src, at + 100);
    const tmp = u32(src, at + 104);
    const k1 = 0x03030303;
    const k2 = 0x0f0f0f0f;
    const words = [
      (a0 & k2) | (((tmp >>> 0) & k1) << 4),
      (a1 & k2) | (((tmp >>> 2) & k1) << 4),
      ((a0 >>> 4) & k2) | (((tmp >>> 4) & k1) << 4),
      ((a1 >>> 4) & k2) | (((tmp >>> 6) & k1) << 4),
    ];
    for (let w = 0; w < 4; w++) for (let b = 0; b < 4; b++) scales[w * 4 + b] = (words[w] >>> (8 * b)) & 0xff;
    let q = at + 32;
    const hm = at;
    let m = 1;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        for (let half16 = 0; half16 < 32; half16 += 16) {
          const dl = fr(dAll * (scales[is++] - 32));
          for (let l = 0; l < 16; l++) {
            const v = ((src[q + half16 + l] >> shift) & 3) - (src[hm + half16 + l] & m ? 0 : 4);
            dst[y++] = fr(dl * v);
          }
        }
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
};

/** ggml's get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K/Q5_K block's 12 scale bytes at `s`. */
function scaleMinK4(j: number, src: Uint8Array, s: number): [number, number] {
  if (j < 4) return [src[s + j] & 63, src[s + j + 4] & 63];
  return [(src[s + j + 4] & 0xf) | ((src[s + j - 4] >> 6) << 4), (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4)];
}

/** Q4_K: d, dmin (f16), scales[12] (eight 6-bit scales and mins), qs[128]; x = d*sc*q - dmin*m per 32 values. */
export const dequantizeQ4_K: BlockDecoder = (src, dst, nBlocks) => {
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 144;
    const d = half(src, at);
    const min = half(src, at + 2);
    let q = at + 16;
    let is = 0;
    for (let j = 0; j < QK_K; j += 64) {
      const [sc1, m1i] = scaleMinK4(is, src, at + 4);
      const [sc2, m2i] = scaleMinK4(is + 1, src, at + 4);
      const d1 = fr(d * sc1);
      const m1 = fr(min * m1i);
      const d2 = fr(d * sc2);
      const m2 = fr(min * m2i);
      for (let l = 0; l < 32; l++) dst[y++] = fr(fr(d1 * (src[q + l] & 0xf)) - m1);
      for (let l = 0; l < 32; l++) dst[y++] = fr(fr(d2 * (src[q + l] >> 4)) - m2);
      q += 32;
      is += 2;
    }
  }
};

/** Q5_K: d, dmin (f16), scales[12], qh[32] (5th bits), qs[128]; as Q4_K with 5-bit codes. */
export const dequantizeQ5_K: BlockDecoder = (src, dst, nBlocks) => {
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 176;
    const d = half(src, at);
    const min = half(src, at + 2);
    const qh = at + 16;
    let ql = at + 48;
    let is = 0;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0; j < QK_K; j += 64) {
      const [sc1, m1i] = scaleMinK4(is, src, at + 4);
      const [sc2, m2i] = scaleMinK4(is + 1, src, at + 4);
      const d1 = fr(d * sc1);
      const m1 = fr(min * m1i);
      const d2 = fr(d * sc2);
      const m2 = fr(min * m2i);
      for (let l = 0; l < 32; l++) dst[y++] = fr(fr(d1 * ((src[ql + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0))) - m1);
      for (let l = 0; l < 32; l++) dst[y++] = fr(fr(d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - m2);
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
};

/** Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16); x = d*sc*(q - 32) per 16 values. */
export const dequantizeQ6_K: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 210;
    const d = half(src, at + 208);
    let ql = at;
    let qh = at + 128;
    let sc = at + 192;
    let y = i * QK_K;
    for (let n = 0; n < QK_K; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0xf) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        dst[y + l] = fr(fr(d * i8(src[sc + is])) * q1);
        dst[y + l + 32] = fr(fr(d * i8(src[sc + is + 2])) * q2);
        dst[y + l + 64] = fr(fr(d * i8(src[sc + is + 4])) * q3);
        dst[y + l + 96] = fr(fr(d * i8(src[sc + is + 6])) * q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
};

/** Q8_K: d (f32), qs[256] (int8), bsums[16] (int16, unused here); x = d * q. */
export const dequantizeQ8_K: BlockDecoder = (src, dst, nBlocks) => {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 292;
    const d = dv.getFloat32(at, true);
    const o = i * QK_K;
    for (let j = 0; j < QK_K; j++) dst[o + j] = fr(d * i8(src[at + 4 + j]));
  }
};

/** The non-linear 4-bit grid of IQ4_NL and IQ4_XS (kvalues_iq4nl). */
const IQ4_NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** IQ4_NL: d (f16), 16 bytes of nibbles indexing IQ4_NL_VALUES; x = d * value. */
export const dequantizeIQ4_NL: BlockDecoder = (src, dst, nBlocks) => {
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 18;
    const d = half(src, at);
    const o = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 2 + j];
      dst[o + j] = fr(d * IQ4_NL_VALUES[q & 0xf]);
      dst[o + j + 16] = fr(d * IQ4_NL_VALUES[q >> 4]);
    }
  }
};

/** IQ4_XS: d (f16), scales_h (u16), scales_l[4], qs[128]; eight 6-bit scales, IQ4_NL grid. */
export const dequantizeIQ4_XS: BlockDecoder = (src, dst, nBlocks) => {
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 136;
    const d = half(src, at);
    const scalesH = src[at + 2] | (src[at + 3] << 8);
    let qs = at + 8;
    for (let ib = 0; ib < QK_K / 32; ib++) {
      const ls = ((src[at + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = fr(d * (ls - 32));
      for (let j = 0; j < 16; j++) {
        dst[y + j] = fr(dl * IQ4_NL_VALUES[src[qs + j] & 0xf]);
        dst[y + j + 16] = fr(dl * IQ4_NL_VALUES[src[qs + j] >> 4]);
      }
      y += 32;
      qs += 16;
    }
  }
};

/** TQ2_0: qs[64] (2-bit ternary codes), d (f16); x = (q - 1) * d. */
export const dequantizeTQ2_0: BlockDecoder = (src, dst, nBlocks) => {
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 66;
    const d = half(src, at + 64);
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) {
        for (let m = 0; m < 32; m++) dst[y++] = fr((((src[at + j + m] >> (l * 2)) & 3) - 1) * d);
      }
    }
  }
};

/** TQ1_0: qs[48] (5 trits per byte), qh[4] (4 trits per byte), d (f16); x = (trit - 1) * d. */
export const dequantizeTQ1_0: BlockDecoder = (src, dst, nBlocks) => {
  const pow3 = [1, 3, 9, 27, 81, 243];
  const trit = (b: number, n: number): number => ((((b * pow3[n]) & 0xff) * 3) >> 8) - 1;
  let y = 0;
  for (let i = 0; i < nBlocks; i++) {
    const at = i * 54;
    const d = half(src, at + 52);
    for (let j = 0; j < 32; j += 32) {
      for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++) dst[y++] = fr(trit(src[at + j + m], n) * d);
    }
    for (let j = 32; j < 48; j += 16) {
      for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++) dst[y++] = fr(trit(src[at + j + m], n) * d);
    }
    for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++) dst[y++] = fr(trit(src[at + 48 + j], n) * d);
  }
};
