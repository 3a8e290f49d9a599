// bx mixed-precision matrix (packages/format/SPEC.md): layout arithmetic and
// bit-exact field/weight decoding shared by the CUDA kernels and the host.
// Everything marked BX_HD compiles for both; test/host/bx_host_test.cc checks
// it with g++ against the format's test vectors, so the device code reads the
// same bits the reference decoder does.
#pragma once
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __CUDACC__
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#define BX_HD __host__ __device__ __forceinline__
#else
#define BX_HD inline
#endif
#if !defined(__CUDACC__) && !defined(__VECTOR_TYPES_H__)
// The host build (the g++ unit test) runs the very same vector code paths.
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  uint32_t x, y, z, w;
};
#endif

// f16 bits -> f32, exact (subnormals, inf, NaN), integer ops only so host and device agree.
BX_HD float bxHalfToFloat(uint32_t h) {
#if defined(__CUDA_ARCH__)
  // The hardware conversion is exact too (f16 -> f32 never rounds): one instruction instead of the branches below.
  return __half2float(__ushort_as_half((unsigned short)h));
#else
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t frac = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (frac == 0) {
      bits = sign;
    } else {
      // Subnormal: normalise.
      int e = -1;
      do {
        frac <<= 1;
        e++;
      } while ((frac & 0x400u) == 0);
      frac &= 0x3ffu;
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (frac << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (frac << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (frac << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
#endif
}

BX_HD float bxBf16ToFloat(uint32_t h) {
  uint32_t bits = h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/** Reads an n-bit field (n <= 16) at stream bit `bit` of a u32 little-endian bitstream. */
BX_HD uint32_t bxField(const uint32_t* words, uint64_t bit, int n) {
  uint64_t w = bit >> 5;
  int sh = (int)(bit & 31u);
  uint64_t v = words[w] >> sh;
  if (sh + n > 32) v |= (uint64_t)words[w + 1] << (32 - sh);
  return (uint32_t)(v & ((1u << n) - 1u));
}

/** Same, from the two words already loaded (the kernels prefetch them). */
BX_HD uint32_t bxFieldFrom(uint32_t lo, uint32_t hi, uint64_t bit, int n) {
  int sh = (int)(bit & 31u);
  uint64_t v = (((uint64_t)hi << 32) | lo) >> sh;
  return (uint32_t)(v & ((1u << n) - 1u));
}

/**
 * Everything a kernel needs about one bx matrix: device pointers into the
 * uploaded blob plus per-group tables computed once on the host. Passed to
 * kernels by value.
 */
struct BxDev {
  const uint32_t* p4;
  const uint32_t* p2;
  const uint32_t* p1;
  const uint32_t* meta;
  const uint32_t* so;    // second-order tiles (or null)
  const uint32_t* outl;  // outlier slots (or null)
  // Per group g: width b_g, slot in its main plane (P4 or P2), slot in P1 (3-bit only), zero-field bit offset in a row.
  const uint32_t* gWidth;
  const uint32_t* gSlot;
  const uint32_t* gSlot1;
  const uint32_t* gZoff;
  // Per slot k of each plane: the group it holds.
  const uint32_t* s4Group;
  const uint32_t* s2Group;
  const uint32_t* s1Group;
  int32_t N, K, G, nG;
  int32_t n4, n23, n3;      // slots in P4, P2, P1
  int32_t W4, W2, W1;       // u32 words per row of each plane
  int32_t F;                // scale field bits (16 or scaleBits)
  int32_t secondOrder, SR, SG, tileCols;
  int32_t C;                // outlier slots per row
  int32_t vec4, vec2, vec1; // rows of that plane start on 16-byte boundaries (128-bit loads allowed)
  int32_t full;             // K is a multiple of G (no partial last group)
  int64_t M;                // meta bits per row
};

/** Host-side layout of a blob: byte offsets and per-group tables (SPEC §3). */
struct BxLayout {
  uint32_t N, K, G, nG;
  uint32_t flags, scaleBits, SR, SG, C, byteLength;
  uint32_t n2, n3, n4;
  uint32_t W4, W2, W1, F;
  uint64_t M;
  uint64_t o4, o2, o1, oM, oS, oO, end;
  uint32_t tileCols;
};

static inline uint64_t bxAlign(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static inline uint32_t bxRd32(const uint8_t* p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static inline uint32_t bxRd16(const uint8_t* p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

/**
 * Parses the header and width map and computes every offset. The blob was
 * validated by @bitexit/format's parseBx before upload; this re-checks what
 * memory safety depends on (length, widths). Returns an error string or null.
 * widths[] receives nG entries (2, 3, 4).
 */
static inline const char* bxLayout(const uint8_t* blob, uint64_t len, BxLayout* L, uint32_t* widths, uint32_t maxGroups) {
  if (len < 28) return "blob shorter than its 28-byte header";
  if (bxRd32(blob) != 0x464D5842u) return "bad magic";
  if (bxRd16(blob + 4) != 1) return "unsupported version";
  L->G = bxRd16(blob + 6);
  L->N = bxRd32(blob + 8);
  L->K = bxRd32(blob + 12);
  L->flags = blob[16];
  L->scaleBits = blob[17];
  L->SR = blob[18];
  L->SG = blob[19];
  L->C = bxRd32(blob + 20);
  L->byteLength = bxRd32(blob + 24);
  if (L->G != 32 && L->G != 64 && L->G != 128) return "bad group size";
  if (L->N == 0 || L->K == 0) return "empty matrix";
  const uint32_t G = L->G;
  L->nG = (L->K + G - 1) / G;
  if (L->nG > maxGroups) return "too many groups";
  const bool so = (L->flags & 1u) != 0;
  L->F = so ? L->scaleBits : 16;
  if (so && (L->scaleBits < 2 || L->scaleBits > 8 || L->SR == 0 || L->SG == 0)) return "bad second-order parameters";
  if (28 + (L->nG + 3) / 4 > len) return "truncated width map";
  L->n2 = L->n3 = L->n4 = 0;
  uint64_t sumB = 0;
  for (uint32_t g = 0; g < L->nG; g++) {
    uint32_t code = (blob[28 + g / 4] >> (2 * (g % 4))) & 3u;
    if (code == 3) return "width code 3";
    uint32_t b = code + 2;
    widths[g] = b;
    sumB += b;
    if (b == 2) L->n2++;
    else if (b == 3) L->n3++;
    else L->n4++;
  }
  const uint32_t m = L->K - (L->nG - 1) * G;
  const uint32_t bLast = widths[L->nG - 1];
  L->W4 = (G / 8) * L->n4 - (bLast == 4 ? (G / 8 - (m + 7) / 8) : 0);
  L->W2 = (G / 16) * (L->n2 + L->n3) - (bLast != 4 ? (G / 16 - (m + 15) / 16) : 0);
  L->W1 = (G / 32) * L->n3 - (bLast == 3 ? (G / 32 - (m + 31) / 32) : 0);
  L->M = (uint64_t)L->nG * L->F + sumB;
  const uint64_t N = L->N;
  L->o4 = bxAlign(28 + (L->nG + 3) / 4, 16);
  L->o2 = bxAlign(L->o4 + 4 * N * L->W4, 16);
  L->o1 = bxAlign(L->o2 + 4 * N * L->W2, 16);
  L->oM = L->o1 + 4 * N * L->W1;
  L->oS = L->oM + 4 * ((N * L->M + 31) / 32);
  L->tileCols = so ? (L->nG + L->SG - 1) / L->SG : 0;
  const uint64_t T = so ? 4ull * ((N + L->SR - 1) / L->SR) * L->tileCols : 0;
  L->oO = L->oS + T;
  L->end = bxAlign(L->oO + 4 * N * L->C, 16);
  if (L->end != len || L->end != L->byteLength) return "byteLength does not match the layout";
  return 0;
}

/**
 * Fills the per-group and per-slot tables (host arrays of nG entries each;
 * slot arrays sized n4, n2+n3, n3).
 */
static inline void bxTables(const BxLayout& L, const uint32_t* widths, uint32_t* gSlot, uint32_t* gSlot1, uint32_t* gZoff,
                            uint32_t* s4Group, uint32_t* s2Group, uint32_t* s1Group) {
  uint32_t k4 = 0, k2 = 0, k1 = 0, cum = 0;
  for (uint32_t g = 0; g < L.nG; g++) {
    uint32_t b = widths[g];
    gZoff[g] = L.nG * L.F + cum;
    cum += b;
    gSlot1[g] = 0;
    if (b == 4) {
      gSlot[g] = k4;
      s4Group[k4++] = g;
    } else {
      gSlot[g] = k2;
      s2Group[k2++] = g;
      if (b == 3) {
        gSlot1[g] = k1;
        s1Group[k1++] = g;
      }
    }
  }
}

/** Scale of (r, g), exactly per SPEC §4.1. */
BX_HD float bxScaleFromField(const BxDev& d, uint32_t field, uint32_t tileWord) {
  if (!d.secondOrder) return bxHalfToFloat(field);
  float step = bxHalfToFloat(tileWord & 0xffffu);
  float mn = bxHalfToFloat(tileWord >> 16);
  return fmaf(step, (float)field, mn);  // step * c is exact in f32, so one FMA = multiply then add
}

BX_HD uint32_t bxTileWord(const BxDev& d, int64_t r, int64_t g) {
  if (!d.secondOrder) return 0;
  return d.so[(r / d.SR) * d.tileCols + g / d.SG];
}

BX_HD float bxScale(const BxDev& d, int64_t r, int64_t g) {
  uint32_t f = bxField(d.meta, (uint64_t)r * d.M + (uint64_t)g * d.F, d.F);
  return bxScaleFromField(d, f, bxTileWord(d, r, g));
}

BX_HD uint32_t bxZero(const BxDev& d, int64_t r, int64_t g) {
  return bxField(d.meta, (uint64_t)r * d.M + d.gZoff[g], (int)d.gWidth[g]);
}

/** The code q[r, c]. */
BX_HD uint32_t bxCode(const BxDev& d, int64_t r, int64_t c) {
  int64_t g = c / d.G;
  int64_t i = c - g * d.G;
  uint32_t b = d.gWidth[g];
  if (b == 4) {
    uint32_t w = d.p4[r * d.W4 + (int64_t)d.gSlot[g] * (d.G / 8) + i / 8];
    return (w >> (4 * (i % 8))) & 15u;
  }
  uint32_t lo = (d.p2[r * d.W2 + (int64_t)d.gSlot[g] * (d.G / 16) + i / 16] >> (2 * (i % 16))) & 3u;
  if (b == 2) return lo;
  uint32_t hi = (d.p1[r * d.W1 + (int64_t)d.gSlot1[g] * (d.G / 32) + i / 32] >> (i % 32)) & 1u;
  return lo | (hi << 2);
}

/** W[r, c] exactly as SPEC §4 (outliers replace the quantized value). */
BX_HD float bxWeight(const BxDev& d, int64_t r, int64_t c) {
  for (int j = 0; j < d.C; j++) {
    uint32_t e = d.outl[r * d.C + j];
    if (e == 0) break;
    if ((int64_t)(e & 0xffffu) == c) return bxHalfToFloat(e >> 16);
  }
  int64_t g = c / d.G;
  float s = bxScale(d, r, g);
  int z = (int)bxZero(d, r, g);
  int q = (int)bxCode(d, r, c);
  return s * (float)(q - z);
}

// ---------------------------------------------------------------------------
// Per-slot dot products used by the matrix-vector kernel (and emulated on the
// host by bxRowDot below). `w` holds the slot's NW code words (already in
// registers: the kernel loads the next slot's words before calling these),
// `x` points at the group's first column, `valid` = columns in the group
// (G except for a partial last group). FULL: valid == G and x is 16-byte
// aligned, so x is read as float4.

// Exact u32 (< 2^23) -> f32 without an I2F: OR the value into the mantissa of 2^23 and subtract 2^23.
BX_HD float bxU2F(uint32_t q) {
  uint32_t bits = 0x4B000000u | q;
  float f;
  memcpy(&f, &bits, 4);
  return f - 8388608.0f;
}

/**
 * q·2^k for the code whose bits `mask` selects (mask = (2^b − 1)·2^k, k + b <= 16),
 * exactly, in one LOP3 and one FADD: OR the masked bits into the mantissa of
 * 2^23 and subtract 2^23. The dot products keep one accumulator per k and
 * scale each by 2^−k once per slot, instead of shifting every code down.
 */
BX_HD float bxU2FMasked(uint32_t v, uint32_t mask) {
  uint32_t bits = 0x4B000000u | (v & mask);
  float f;
  memcpy(&f, &bits, 4);
  return f - 8388608.0f;
}

/** Component c (0..3) of a float4. */
BX_HD float bxLane(const float4& a, int c) { return c == 0 ? a.x : c == 1 ? a.y : c == 2 ? a.z : a.w; }

/**
 * Σ q·x over a slot of B-bit codes (B = 4: a 4-bit group, 8 codes per word;
 * B = 2: a 2-bit group or the low bits of a 3-bit group, 16 per word) for R
 * rows that share the group (the kernels' rows per warp: x is read once for
 * all R), and Σx over the group into `sx` (summed in column order, so it
 * equals a plain sequential sum). FULL: the group's float4 number i is at
 * x + i * xs, xs = 4 for a contiguous x; the kernels pass their
 * group-interleaved copy of x (xs = 4 * nG) so that the lanes of a warp, each
 * on its own group, read neighbouring float4s. FULL codes become floats
 * without shifts: code e of each 16-bit half is masked in place
 * (bxU2FMasked, q·2^(B·e)) into its own accumulator, scaled by 2^(−B·e) once
 * per slot.
 */
template <int B, int R, int NW, bool FULL>
BX_HD void bxDotR(const uint32_t (&w)[R][NW], const float* x, int valid, int xs, float (&dot)[R], float& sx) {
  constexpr int PER_HALF = 16 / B;      // codes in a 16-bit half word
  constexpr uint32_t MASK = (1u << B) - 1u;
  float part[R][PER_HALF];
  float acc[R];
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < R; i++) {
    acc[i] = 0.f;
#pragma unroll
    for (int e = 0; e < PER_HALF; e++) part[i][e] = 0.f;
  }
#pragma unroll
  for (int j = 0; j < NW; j++) {
    if (FULL) {
#pragma unroll
      for (int h = 0; h < 2; h++) {
#pragma unroll
        for (int f = 0; f < PER_HALF / 4; f++) {
          const float4 a = *reinterpret_cast<const float4*>(x + ((2 * j + h) * (PER_HALF / 4) + f) * xs);
#pragma unroll
          for (int i = 0; i < R; i++) {
            const uint32_t v = h ? w[i][j] >> 16 : w[i][j];
#pragma unroll
            for (int c = 0; c < 4; c++) {
              const int e = 4 * f + c;
              part[i][e] = fmaf(bxU2FMasked(v, MASK << (B * e)), bxLane(a, c), part[i][e]);
            }
          }
#pragma unroll
          for (int c = 0; c < 4; c++) sum += bxLane(a, c);
        }
      }
    } else {
      for (int e = 0; e < 32 / B; e++) {
        int c = j * (32 / B) + e;
        if (c < valid) {
          const float xc = x[c];
#pragma unroll
          for (int i = 0; i < R; i++) acc[i] = fmaf(bxU2F((w[i][j] >> (B * e)) & MASK), xc, acc[i]);
          sum += xc;
        }
      }
    }
  }
  sx = sum;
#pragma unroll
  for (int i = 0; i < R; i++) {
    if (FULL) {
      float p = part[i][PER_HALF - 1];
#pragma unroll
      for (int e = PER_HALF - 2; e >= 0; e--) p = fmaf(1.0f / (1 << B), p, part[i][e]);  // a power of two: the FMA rounds once, like a plain add
      dot[i] = p;
    } else {
      dot[i] = acc[i];
    }
  }
}

/** Σ hi·x over a 1-bit slot (32 codes per word): the high bits of 3-bit groups (R rows, x addressed as in bxDotR). */
template <int R, int NW, bool FULL>
BX_HD void bxDot1R(const uint32_t (&w)[R][NW], const float* x, int valid, int xs, float (&dot)[R]) {
  float acc[R];
#pragma unroll
  for (int i = 0; i < R; i++) acc[i] = 0.f;
#pragma unroll
  for (int j = 0; j < NW; j++) {
    if (FULL) {
#pragma unroll
      for (int h = 0; h < 8; h++) {
        const float4 a = *reinterpret_cast<const float4*>(x + (8 * j + h) * xs);
#pragma unroll
        for (int i = 0; i < R; i++) {
          const uint32_t v = w[i][j] >> (4 * h);
          // A bit selects x or 0: no multiply needed.
          acc[i] += (v & 1u) ? a.x : 0.f;
          acc[i] += (v & 2u) ? a.y : 0.f;
          acc[i] += (v & 4u) ? a.z : 0.f;
          acc[i] += (v & 8u) ? a.w : 0.f;
        }
      }
    } else {
      for (int e = 0; e < 32; e++) {
        int c = j * 32 + e;
        if (c < valid) {
#pragma unroll
          for (int i = 0; i < R; i++)
            if ((w[i][j] >> e) & 1u) acc[i] += x[c];
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < R; i++) dot[i] = acc[i];
}

/** One row (R = 1) of bxDotR: a 4-bit slot. */
template <int NW, bool FULL>
BX_HD float bxDot4(const uint32_t (&w)[NW], const float* x, int valid, int xs, float& sx) {
  float d[1];
  bxDotR<4, 1, NW, FULL>(*reinterpret_cast<const uint32_t(*)[1][NW]>(&w), x, valid, xs, d, sx);
  return d[0];
}
/** One row (R = 1) of bxDotR: a 2-bit slot. */
template <int NW, bool FULL>
BX_HD float bxDot2(const uint32_t (&w)[NW], const float* x, int valid, int xs, float& sx) {
  float d[1];
  bxDotR<2, 1, NW, FULL>(*reinterpret_cast<const uint32_t(*)[1][NW]>(&w), x, valid, xs, d, sx);
  return d[0];
}
/** One row (R = 1) of bxDot1R. */
template <int NW, bool FULL>
BX_HD float bxDot1(const uint32_t (&w)[NW], const float* x, int valid, int xs) {
  float d[1];
  bxDot1R<1, NW, FULL>(*reinterpret_cast<const uint32_t(*)[1][NW]>(&w), x, valid, xs, d);
  return d[0];
}

/** Loads NW words of a slot; 128-bit loads when the slot is 16-byte aligned. */
template <int NW>
BX_HD void bxLoadWords(const uint32_t* p, bool vec, uint32_t (&w)[NW]) {
  if (NW % 4 == 0 && vec) {
#pragma unroll
    for (int j = 0; j < NW / 4 + (NW % 4 ? 1 : 0); j++) {
      const uint4 v = reinterpret_cast<const uint4*>(p)[j];
      w[4 * j] = v.x;
      if (4 * j + 1 < NW) w[4 * j + 1] = v.y;
      if (4 * j + 2 < NW) w[4 * j + 2] = v.z;
      if (4 * j + 3 < NW) w[4 * j + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < NW; j++) w[j] = p[j];
  }
}

/** The meta words a (row, group) needs, prefetched together with the codes. */
struct BxMetaRaw {
  uint32_t s0, s1;  // words holding the scale field
  uint32_t z0, z1;  // words holding the zero field
  uint32_t tile;    // second-order tile word (0 without second order)
};

/** Per-row constants of the meta lookups, computed once per row rather than per slot. */
struct BxRow {
  uint64_t bit;      // r * M: the row's first meta bit
  int64_t tileBase;  // (r / SR) * tileCols: the row's second-order tile row
};

BX_HD BxRow bxRow(const BxDev& d, int64_t r) {
  BxRow row;
  row.bit = (uint64_t)r * d.M;
  row.tileBase = d.secondOrder ? (r / d.SR) * d.tileCols : 0;
  return row;
}

BX_HD BxMetaRaw bxLoadMeta(const BxDev& d, const BxRow& row, int64_t g) {
  BxMetaRaw m;
  const uint64_t sb = row.bit + (uint64_t)g * d.F;
  const uint64_t zb = row.bit + d.gZoff[g];
  m.s0 = d.meta[sb >> 5];
  m.s1 = ((sb & 31) + d.F > 32) ? d.meta[(sb >> 5) + 1] : 0u;
  m.z0 = d.meta[zb >> 5];
  m.z1 = ((zb & 31) + d.gWidth[g] > 32) ? d.meta[(zb >> 5) + 1] : 0u;
  m.tile = d.secondOrder ? d.so[row.tileBase + (d.SG == 1 ? g : g / d.SG)] : 0u;
  return m;
}

BX_HD void bxDecodeMeta(const BxDev& d, const BxRow& row, int64_t g, const BxMetaRaw& m, float& s, float& z) {
  const uint64_t sb = row.bit + (uint64_t)g * d.F;
  const uint64_t zb = row.bit + d.gZoff[g];
  s = bxScaleFromField(d, bxFieldFrom(m.s0, m.s1, sb, d.F), m.tile);
  z = (float)bxFieldFrom(m.z0, m.z1, zb, (int)d.gWidth[g]);
}

/**
 * One slot k of a plane for R rows that share it: loads the rows' code words
 * and meta, and adds each row's s·(Σq·x − z·Σx) to acc (B = 1, the high bits
 * of 3-bit groups: 4·s·Σhi·x). B picks the plane: 4 = P4, 2 = P2, 1 = P1.
 * Group g's x starts at xBase + g * gStride (contiguous x: gStride = G, xs = 4;
 * the kernels' group-interleaved copy: gStride = 4, xs = 4 * nG). The common
 * step of bxMatvecRows and of bxRowDot.
 */
template <int B, int G, int R, bool FULL>
BX_HD void bxSlotRows(const BxDev& d, int k, const int64_t (&rr)[R], const BxRow (&row)[R], const float* xBase, int gStride, int xs, float (&acc)[R]) {
  constexpr int NW = G * B / 32;
  const uint32_t* plane = B == 4 ? d.p4 : B == 2 ? d.p2 : d.p1;
  const int64_t W = B == 4 ? d.W4 : B == 2 ? d.W2 : d.W1;
  const bool vec = (B == 4 ? d.vec4 : B == 2 ? d.vec2 : d.vec1) != 0;
  const int g = (int)(B == 4 ? d.s4Group : B == 2 ? d.s2Group : d.s1Group)[k];
  uint32_t w[R][NW];
  BxMetaRaw m[R];
#pragma unroll
  for (int i = 0; i < R; i++) {
    bxLoadWords<NW>(plane + rr[i] * W + (int64_t)k * NW, vec, w[i]);
    m[i] = bxLoadMeta(d, row[i], g);
  }
  const float* xg = xBase + (int64_t)g * gStride;
  const int valid = d.K - (int64_t)g * G < G ? (int)(d.K - (int64_t)g * G) : G;
  float dot[R], sx = 0.f;
  if constexpr (B == 1) bxDot1R<R, NW, FULL>(w, xg, valid, xs, dot);
  else bxDotR<B, R, NW, FULL>(w, xg, valid, xs, dot, sx);
#pragma unroll
  for (int i = 0; i < R; i++) {
    float sc, z;
    bxDecodeMeta(d, row[i], g, m[i], sc, z);
    acc[i] = B == 1 ? fmaf(4.f * sc, dot[i], acc[i]) : fmaf(sc, dot[i] - z * sx, acc[i]);
  }
}

/**
 * One row's dot product W[r]·x with the kernels' per-slot step (bxSlotRows:
 * P4 slots, P2 slots, P1 slots, then outliers) run serially on a contiguous x.
 * Used by the host test to check the kernels' arithmetic.
 */
template <int G, bool FULL>
BX_HD float bxRowDot(const BxDev& d, int64_t r, const float* x) {
  const int64_t rr[1] = {r};
  const BxRow row[1] = {bxRow(d, r)};
  float acc[1] = {0.f};
  for (int k = 0; k < d.n4; k++) bxSlotRows<4, G, 1, FULL>(d, k, rr, row, x, G, 4, acc);
  for (int k = 0; k < d.n23; k++) bxSlotRows<2, G, 1, FULL>(d, k, rr, row, x, G, 4, acc);
  for (int k = 0; k < d.n3; k++) bxSlotRows<1, G, 1, FULL>(d, k, rr, row, x, G, 4, acc);
  for (int j = 0; j < d.C; j++) {
    const uint32_t e = d.outl[r * d.C + j];
    acc[0] += e ? bxHalfToFloat(e >> 16) * x[e & 0xffffu] : 0.f;
  }
  return acc[0];
}
