// All CUDA kernels of the backend, in one translation unit to keep the
// fat-binary build short. Index math is kept plain; the bx decoding and the
// bx dot-product arithmetic live in bx.h and are unit-tested on the host.
//
// Every kernel reads the step's active row count n and position pos from the
// device RunState, so a program's launches are captured into a CUDA graph
// once (grids sized for maxRows / the whole KV cache) and replayed per step.
#ifdef BITEXIT_EMU
#include "cuda_emu.h"  // test/emu: host emulation for GPU-less tests
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif
#include <math.h>
#include <stdint.h>
#include "ops.h"

#define WARP 32

__device__ __forceinline__ int activeRows(const RunState* rs, int fixedRows) { return fixedRows > 0 ? fixedRows : rs->n; }

/** Whether the enclosing guarded region (if any) skips the op now: read from the exit buffer as the kernel starts. */
__device__ __forceinline__ bool regionSkipped(const RunState* rs) {
  if (rs->guardMode == 0) return false;
  const int e = rs->guardExit[1];
  return rs->guardMode == 1 ? !(e < 0) : !(e >= 0 && e < rs->guardLayer);
}

/** Every kernel starts with this and returns before touching weights. Uniform across a block. */
__device__ __forceinline__ bool skipped(const RunState* rs) { return rs->localSkip != 0 || regionSkipped(rs); }

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warpSumD(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/** Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result. */
__device__ double blockSumD(double v) {
  __shared__ double part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpSumD(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  double t = 0;
  const int nw = blockDim.x >> 5;
  for (int i = 0; i < nw; i++) t += part[i];
  return t;
}

__device__ float blockMax(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float t = -INFINITY;
  const int nw = blockDim.x >> 5;
  for (int i = 0; i < nw; i++) t = fmaxf(t, part[i]);
  return t;
}

__device__ __forceinline__ float halfBits(uint16_t h) { return __half2float(__ushort_as_half(h)); }

/** One element of a dense (non-bx) weight, or of a bx weight by exact dequantization. */
__device__ float loadElem(const WeightRef& w, int64_t i) {
  switch (w.dtype) {
    case DT_F32:
      return static_cast<const float*>(w.data)[i];
    case DT_F16:
      return halfBits(static_cast<const uint16_t*>(w.data)[i]);
    case DT_BF16:
      return bxBf16ToFloat(static_cast<const uint16_t*>(w.data)[i]);
    case DT_Q8_0: {
      const uint8_t* b = static_cast<const uint8_t*>(w.data) + (i >> 5) * 34;
      const float d = halfBits((uint16_t)(b[0] | (b[1] << 8)));
      return (float)(int8_t)b[2 + (i & 31)] * d;
    }
    default:
      return bxWeight(w.bx, i / w.cols, i % w.cols);
  }
}

// ----------------------------------------------------------------- embed

__global__ void embedKernel(RunState* rs, WeightRef table, const int32_t* ids, float* out) {
  const int t = blockIdx.y;
  if (skipped(rs) || t >= rs->n) return;
  const int64_t D = table.cols;
  const int id = ids[t];
  if (id < 0 || id >= table.rows) {
    if (blockIdx.x == 0 && threadIdx.x == 0 && atomicCAS(&rs->error, 0, ERR_TOKEN_RANGE) == 0) {
      rs->errorArg = id;
      rs->errorRow = t;
    }
    return;
  }
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < D; j += (int64_t)gridDim.x * blockDim.x)
    out[t * D + j] = loadElem(table, (int64_t)id * D + j);
}

void launchEmbed(cudaStream_t s, RunState* rs, const WeightRef& table, const int32_t* ids, float* out, int maxRows) {
  int bx = (int)((table.cols + 255) / 256);
  if (bx > 64) bx = 64;
  embedKernel<<<dim3(bx, maxRows), 256, 0, s>>>(rs, table, ids, out);
}

// ----------------------------------------------------------------- rmsnorm

// As the CPU reference (llama2.c formulation) in float64: inv = 1/sqrt(Σx²/D + eps); out = w * (inv * x).
__global__ void rmsnormKernel(RunState* rs, int fixedRows, const float* x, WeightRef w, float eps, float* out) {
  const int t = blockIdx.x;
  if (skipped(rs) || t >= activeRows(rs, fixedRows)) return;
  const int64_t D = w.rows * w.cols;
  const float* xr = x + t * D;
  double ss = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) ss += (double)xr[j] * xr[j];
  ss = blockSumD(ss);
  const double inv = 1.0 / sqrt(ss / (double)D + (double)eps);
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) out[t * D + j] = (float)((double)loadElem(w, j) * (inv * xr[j]));
}

void launchRmsnorm(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, float eps, float* out, int maxRows) {
  rmsnormKernel<<<fixedRows > 0 ? fixedRows : maxRows, 256, 0, s>>>(rs, fixedRows, x, w, eps, out);
}

// ----------------------------------------------------------------- dense matvec (f32, f16, bf16, q8_0)

#define MV_WARPS 4
// Output rows per warp of the one-token bx product (bxMatvecRows); 4 measured slower on an H200.
#define BX_ROWS_PER_WARP 2

/**
 * out[t, r] = W[r] · x[t] (+ bias[r]): one warp per output row, T token rows
 * at a time so each weight row is read once per T rows. 128-bit loads when K
 * allows (8 halves, or 4 floats, per load).
 */
template <int DT, int T>
__global__ void __launch_bounds__(MV_WARPS * WARP) denseMatvec(RunState* rs, int fixedRows, const float* __restrict__ x, WeightRef w, WeightRef bias,
                                                                int hasBias, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
  const int64_t N = w.rows, K = w.cols;
  if (r >= N || skipped(rs)) return;
  const int n = activeRows(rs, fixedRows);
  const float b = hasBias ? loadElem(bias, r) : 0.f;
  for (int t0 = 0; t0 < n; t0 += T) {
    float acc[T];
#pragma unroll
    for (int t = 0; t < T; t++) acc[t] = 0.f;
    if ((DT == DT_F16 || DT == DT_BF16) && (K & 7) == 0) {
      const uint4* wr = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(w.data) + r * K);
      for (int64_t k8 = lane; k8 < K / 8; k8 += WARP) {
        const uint4 v = __ldg(wr + k8);
        float wf[8];
        const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
          if (DT == DT_F16) {
            wf[2 * i] = halfBits((uint16_t)(u[i] & 0xffffu));
            wf[2 * i + 1] = halfBits((uint16_t)(u[i] >> 16));
          } else {
            wf[2 * i] = __uint_as_float(u[i] << 16);
            wf[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
          }
        }
#pragma unroll
        for (int t = 0; t < T; t++) {
          if (t0 + t < n) {
            const float4* xr = reinterpret_cast<const float4*>(x + (t0 + t) * K + k8 * 8);
            const float4 a = xr[0], c = xr[1];
            acc[t] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * c.x + wf[5] * c.y + wf[6] * c.z + wf[7] * c.w;
          }
        }
      }
    } else if (DT == DT_F32 && (K & 3) == 0) {
      const float4* wr = reinterpret_cast<const float4*>(static_cast<const float*>(w.data) + r * K);
      for (int64_t k4 = lane; k4 < K / 4; k4 += WARP) {
        const float4 v = __ldg(wr + k4);
#pragma unroll
        for (int t = 0; t < T; t++) {
          if (t0 + t < n) {
            const float4 a = reinterpret_cast<const float4*>(x + (t0 + t) * K)[k4];
            acc[t] += v.x * a.x + v.y * a.y + v.z * a.z + v.w * a.w;
          }
        }
      }
    } else {
      for (int64_t k = lane; k < K; k += WARP) {
        const float v = loadElem(w, r * K + k);
#pragma unroll
        for (int t = 0; t < T; t++)
          if (t0 + t < n) acc[t] = fmaf(v, x[(t0 + t) * K + k], acc[t]);
      }
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
      const float v = warpSum(acc[t]);
      if (lane == 0 && t0 + t < n) out[(t0 + t) * N + r] = v + b;
    }
  }
}

// ----------------------------------------------------------------- bx matvec

/**
 * x in group-interleaved order for the bx product: float4 number j of group g
 * of token row t goes to xperm[((t * (G / 4) + j) * nG + g) * 4]. The product's
 * lanes each work on their own group, so with x in this order a warp's lanes
 * read neighbouring float4s (a few 128-byte lines per load) instead of 32
 * lines 4·G bytes apart. Only for matrices whose K is a multiple of G.
 */
__global__ void bxPermuteX(RunState* rs, int fixedRows, const float* __restrict__ x, int64_t K, int G, int nG, float* __restrict__ xperm) {
  const int t = blockIdx.y;
  if (skipped(rs) || t >= activeRows(rs, fixedRows)) return;
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;  // = j * nG + g
  const int64_t per = (int64_t)nG * (G / 4);
  if (i >= per) return;
  const int64_t j = i / nG, g = i - j * nG;
  const float4 v = __ldg(reinterpret_cast<const float4*>(x + t * K + g * G + j * 4));
  reinterpret_cast<float4*>(xperm)[t * per + i] = v;
}

/** The words and meta fields of one slot, loaded one slot ahead of use (register double-buffering). */
template <int NW>
struct SlotRegs {
  uint32_t w[NW];
  BxMetaRaw m;
  int g;
};

template <int NW>
__device__ __forceinline__ void loadSlot(const BxDev& d, const uint32_t* plane, int W, bool vec, const uint32_t* slotGroup, int64_t r,
                                         const BxRow& row, int k, SlotRegs<NW>& s) {
  s.g = (int)__ldg(slotGroup + k);
  bxLoadWords<NW>(plane + r * W + (int64_t)k * NW, vec, s.w);
  s.m = bxLoadMeta(d, row, s.g);
}

/**
 * bx matrix-vector product, SPEC §8's plan: one warp per output row; each
 * lane takes whole slots of a plane (P4, then P2, then P1), so the three
 * loops are uniform across the warp and a warp reads contiguous runs of each
 * plane row with 128-bit loads. While a slot is being multiplied, the next
 * slot's code words, scale/zero words and second-order tile word are already
 * in flight (asynchronous dequantization by register prefetch). Per group
 * the sum is s·(Σq·x − z·Σx) (Σx summed in the same pass over the group's x),
 * plus 4·s·Σhi·x for 3-bit groups; outliers are added in the same pass.
 * FULL matrices read x from its group-interleaved copy (bxPermuteX), others
 * from x itself. blockIdx.y splits the
 * slots of a row (split-K) when rows are few; partial sums are then added
 * with atomics into a zeroed output.
 */
template <int G, bool FULL, int T>
__global__ void __launch_bounds__(MV_WARPS * WARP) bxMatvec(RunState* rs, int fixedRows, BxDev d, const float* __restrict__ x,
                                                             const float* __restrict__ xperm, WeightRef bias, int hasBias, float* __restrict__ out,
                                                             int splits) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
  if (r >= d.N || skipped(rs)) return;
  const int split = blockIdx.y;
  const int n = activeRows(rs, fixedRows);
  const int64_t K = d.K;
  const BxRow row = bxRow(d, r);
  const int stride = WARP * splits;
  // Lanes continue round-robin across the three planes (rotated start), so
  // the lanes left idle at the end of one plane's slots start the next plane.
  const int first4 = split * WARP + lane;
  const int first2 = split * WARP + ((lane + WARP - (d.n4 & 31)) & 31);
  const int first1 = split * WARP + ((lane + WARP - ((d.n4 + d.n23) & 31)) & 31);
  // Where group g of token row t starts, and the distance between its float4s.
  const int xs = FULL ? 4 * d.nG : 4;
  auto xGroup = [&](int t, int g) -> const float* {
    return FULL ? xperm + (int64_t)t * d.nG * G + (int64_t)g * 4 : x + (int64_t)t * K + (int64_t)g * G;
  };
  for (int t0 = 0; t0 < n; t0 += T) {
    float acc[T];
#pragma unroll
    for (int t = 0; t < T; t++) acc[t] = 0.f;

    // 4-bit slots.
    {
      SlotRegs<G / 8> cur, nxt;
      int k = first4;
      if (k < d.n4) loadSlot<G / 8>(d, d.p4, d.W4, d.vec4, d.s4Group, r, row, k, cur);
      while (k < d.n4) {
        const int kn = k + stride;
        if (kn < d.n4) loadSlot<G / 8>(d, d.p4, d.W4, d.vec4, d.s4Group, r, row, kn, nxt);
        float s, z;
        bxDecodeMeta(d, row, cur.g, cur.m, s, z);
        const int valid = (int)min((int64_t)G, K - (int64_t)cur.g * G);
#pragma unroll
        for (int t = 0; t < T; t++) {
          if (t0 + t < n) {
            float sx;
            const float dot = bxDot4<G / 8, FULL>(cur.w, xGroup(t0 + t, cur.g), valid, xs, sx);
            acc[t] = fmaf(s, dot - z * sx, acc[t]);
          }
        }
        cur = nxt;
        k = kn;
      }
    }
    // 2-bit slots (2-bit groups and the low bits of 3-bit groups).
    {
      SlotRegs<G / 16> cur, nxt;
      int k = first2;
      if (k < d.n23) loadSlot<G / 16>(d, d.p2, d.W2, d.vec2, d.s2Group, r, row, k, cur);
      while (k < d.n23) {
        const int kn = k + stride;
        if (kn < d.n23) loadSlot<G / 16>(d, d.p2, d.W2, d.vec2, d.s2Group, r, row, kn, nxt);
        float s, z;
        bxDecodeMeta(d, row, cur.g, cur.m, s, z);
        const int valid = (int)min((int64_t)G, K - (int64_t)cur.g * G);
#pragma unroll
        for (int t = 0; t < T; t++) {
          if (t0 + t < n) {
            float sx;
            const float dot = bxDot2<G / 16, FULL>(cur.w, xGroup(t0 + t, cur.g), valid, xs, sx);
            acc[t] = fmaf(s, dot - z * sx, acc[t]);
          }
        }
        cur = nxt;
        k = kn;
      }
    }
    // 1-bit slots: high bits of 3-bit groups, weight 4·s.
    {
      SlotRegs<G / 32> cur, nxt;
      int k = first1;
      if (k < d.n3) loadSlot<G / 32>(d, d.p1, d.W1, d.vec1, d.s1Group, r, row, k, cur);
      while (k < d.n3) {
        const int kn = k + stride;
        if (kn < d.n3) loadSlot<G / 32>(d, d.p1, d.W1, d.vec1, d.s1Group, r, row, kn, nxt);
        float s, z;
        bxDecodeMeta(d, row, cur.g, cur.m, s, z);
        const int valid = (int)min((int64_t)G, K - (int64_t)cur.g * G);
#pragma unroll
        for (int t = 0; t < T; t++) {
          if (t0 + t < n) acc[t] = fmaf(4.f * s, bxDot1<G / 32, FULL>(cur.w, xGroup(t0 + t, cur.g), valid, xs), acc[t]);
        }
        cur = nxt;
        k = kn;
      }
    }
    // Outliers: the row's C slots, one contiguous run (split 0 only).
    if (split == 0) {
      for (int j = lane; j < d.C; j += WARP) {
        const uint32_t e = __ldg(d.outl + r * d.C + j);
        if (e == 0) continue;
        const float v = halfBits((uint16_t)(e >> 16));
        const int64_t c = e & 0xffffu;
#pragma unroll
        for (int t = 0; t < T; t++)
          if (t0 + t < n) acc[t] = fmaf(v, x[(t0 + t) * K + c], acc[t]);
      }
    }
    const float b = (hasBias && split == 0) ? loadElem(bias, r) : 0.f;
#pragma unroll
    for (int t = 0; t < T; t++) {
      const float v = warpSum(acc[t]);
      if (lane == 0 && t0 + t < n) {
        if (splits > 1)
          atomicAdd(out + (t0 + t) * d.N + r, v + b);
        else
          out[(t0 + t) * d.N + r] = v + b;
      }
    }
  }
}

/**
 * The one-token-row bx product (decode): as bxMatvec, but each warp computes
 * R neighbouring output rows. Per slot the group index and its x are loaded
 * once and used for the R rows (bxSlotRows in bx.h), and the R rows'
 * code words and meta words are R independent loads in flight at once: with
 * Llama shapes each lane holds only one or two slots per plane, so a single
 * row per warp left the register prefetch nothing to run ahead of.
 */
template <int G, bool FULL, int R>
__global__ void __launch_bounds__(MV_WARPS * WARP) bxMatvecRows(RunState* rs, int fixedRows, BxDev d, const float* __restrict__ x,
                                                                 const float* __restrict__ xperm, WeightRef bias, int hasBias,
                                                                 float* __restrict__ out, int splits) {
  const int lane = threadIdx.x & 31;
  const int64_t r0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * R;
  if (r0 >= d.N || skipped(rs) || activeRows(rs, fixedRows) < 1) return;
  // Rows past the end repeat the last row (computed, never stored).
  int64_t rr[R];
  BxRow row[R];
#pragma unroll
  for (int i = 0; i < R; i++) {
    rr[i] = min(r0 + i, (int64_t)d.N - 1);
    row[i] = bxRow(d, rr[i]);
  }
  const int split = blockIdx.y;
  const int stride = WARP * splits;
  const int first4 = split * WARP + lane;
  const int first2 = split * WARP + ((lane + WARP - (d.n4 & 31)) & 31);
  const int first1 = split * WARP + ((lane + WARP - ((d.n4 + d.n23) & 31)) & 31);
  const int xs = FULL ? 4 * d.nG : 4;
  float acc[R];
#pragma unroll
  for (int i = 0; i < R; i++) acc[i] = 0.f;

  const float* xBase = FULL ? xperm : x;
  const int gStride = FULL ? 4 : G;
  for (int k = first4; k < d.n4; k += stride) bxSlotRows<4, G, R, FULL>(d, k, rr, row, xBase, gStride, xs, acc);
  for (int k = first2; k < d.n23; k += stride) bxSlotRows<2, G, R, FULL>(d, k, rr, row, xBase, gStride, xs, acc);
  for (int k = first1; k < d.n3; k += stride) bxSlotRows<1, G, R, FULL>(d, k, rr, row, xBase, gStride, xs, acc);
  if (split == 0) {
#pragma unroll
    for (int i = 0; i < R; i++) {
      for (int j = lane; j < d.C; j += WARP) {
        const uint32_t e = __ldg(d.outl + rr[i] * d.C + j);
        if (e == 0) continue;
        acc[i] = fmaf(halfBits((uint16_t)(e >> 16)), x[e & 0xffffu], acc[i]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < R; i++) {
    const float v = warpSum(acc[i]);
    const int64_t r = r0 + i;
    if (lane == 0 && r < d.N) {
      const float b = (hasBias && split == 0) ? loadElem(bias, r) : 0.f;
      if (splits > 1)
        atomicAdd(out + r, v + b);
      else
        out[r] = v + b;
    }
  }
}

/** Zeroes a split-K output (a kernel, not a memset, so a skipped op leaves its output alone). */
__global__ void zeroKernel(RunState* rs, float* out, int64_t count) {
  if (skipped(rs)) return;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) out[i] = 0.f;
}

template <int G, bool FULL, int T>
static void launchBxT(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, const WeightRef& bias, int hasBias, float* out,
                      const float* xperm, int splits) {
  const dim3 grid((unsigned)((w.bx.N + MV_WARPS - 1) / MV_WARPS), (unsigned)splits);
  bxMatvec<G, FULL, T><<<grid, MV_WARPS * WARP, 0, s>>>(rs, fixedRows, w.bx, x, xperm, bias, hasBias, out, splits);
}

template <int G, bool FULL>
static void launchBxRows(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, const WeightRef& bias, int hasBias, float* out,
                         const float* xperm, int splits) {
  const dim3 grid((unsigned)((w.bx.N + MV_WARPS * BX_ROWS_PER_WARP - 1) / (MV_WARPS * BX_ROWS_PER_WARP)), (unsigned)splits);
  bxMatvecRows<G, FULL, BX_ROWS_PER_WARP><<<grid, MV_WARPS * WARP, 0, s>>>(rs, fixedRows, w.bx, x, xperm, bias, hasBias, out, splits);
}

template <int G>
static void launchBxG(cudaStream_t s, RunState* rs, int fixedRows, int maxRows, const float* x, const WeightRef& w, const WeightRef& bias, int hasBias,
                      float* out, const float* xperm, int splits) {
  const bool full = w.bx.full != 0;
  const bool one = (fixedRows > 0 ? fixedRows : maxRows) == 1;
  if (full && one) launchBxRows<G, true>(s, rs, fixedRows, x, w, bias, hasBias, out, xperm, splits);
  else if (full) launchBxT<G, true, 8>(s, rs, fixedRows, x, w, bias, hasBias, out, xperm, splits);
  else if (one) launchBxRows<G, false>(s, rs, fixedRows, x, w, bias, hasBias, out, xperm, splits);
  else launchBxT<G, false, 8>(s, rs, fixedRows, x, w, bias, hasBias, out, xperm, splits);
}

template <int DT>
static void launchDense(cudaStream_t s, RunState* rs, int fixedRows, int maxRows, const float* x, const WeightRef& w, const WeightRef& bias, int hasBias,
                        float* out) {
  const unsigned grid = (unsigned)((w.rows + MV_WARPS - 1) / MV_WARPS);
  if ((fixedRows > 0 ? fixedRows : maxRows) == 1)
    denseMatvec<DT, 1><<<grid, MV_WARPS * WARP, 0, s>>>(rs, fixedRows, x, w, bias, hasBias, out);
  else
    denseMatvec<DT, 8><<<grid, MV_WARPS * WARP, 0, s>>>(rs, fixedRows, x, w, bias, hasBias, out);
}

// ----------------------------------------------------------------- matrix-matrix product (prefill)

#define MM_BM 64   // output features per block
#define MM_BN 32   // token rows per block
#define MM_BK 32   // K step

/** One weight element without outliers: bx as s·(q − z) (outliers are added by bxOutliersAdd), others decoded. */
__device__ __forceinline__ float tileElem(const WeightRef& w, int64_t r, int64_t c) {
  if (w.dtype != DT_BX) return loadElem(w, r * w.cols + c);
  const BxDev& d = w.bx;
  const int64_t g = c / d.G;
  return bxScale(d, r, g) * (float)((int)bxCode(d, r, c) - (int)bxZero(d, r, g));
}

/**
 * Prefill product: out[t, r] = W[r] · x[t] for many token rows. Each block
 * dequantizes a 64×32 tile of W into shared memory once (exact f32, any
 * storage type) and multiplies it with 32 token rows, so the weights are read
 * once per 32 rows instead of once per 8. Plain f32 FMAs (no tensor cores):
 * the numerics stay those of the f32 reference.
 */
__global__ void __launch_bounds__(256) tiledMatmul(RunState* rs, int fixedRows, const float* __restrict__ x, WeightRef w, WeightRef bias, int hasBias,
                                                    float* __restrict__ out) {
  if (skipped(rs)) return;
  const int n = activeRows(rs, fixedRows);
  const int64_t N = w.rows, K = w.cols;
  const int64_t r0 = (int64_t)blockIdx.x * MM_BM;
  const int t0 = blockIdx.y * MM_BN;
  if (t0 >= n) return;
  __shared__ float Ws[MM_BK][MM_BM + 1];
  __shared__ float Xs[MM_BN][MM_BK + 1];
  const int tid = threadIdx.x;
  const int tr = tid % MM_BM;        // output feature in the tile
  const int tc = (tid / MM_BM) * 8;  // first of this thread's 8 token rows
  float acc[8];
#pragma unroll
  for (int j = 0; j < 8; j++) acc[j] = 0.f;
  for (int64_t k0 = 0; k0 < K; k0 += MM_BK) {
    for (int e = tid; e < MM_BM * MM_BK; e += blockDim.x) {
      const int rr = e / MM_BK, kk = e % MM_BK;
      const int64_t r = r0 + rr, c = k0 + kk;
      Ws[kk][rr] = (r < N && c < K) ? tileElem(w, r, c) : 0.f;
    }
    for (int e = tid; e < MM_BN * MM_BK; e += blockDim.x) {
      const int tt = e / MM_BK, kk = e % MM_BK;
      const int t = t0 + tt;
      const int64_t c = k0 + kk;
      Xs[tt][kk] = (t < n && c < K) ? x[(int64_t)t * K + c] : 0.f;
    }
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < MM_BK; kk++) {
      const float wv = Ws[kk][tr];
#pragma unroll
      for (int j = 0; j < 8; j++) acc[j] = fmaf(wv, Xs[tc + j][kk], acc[j]);
    }
    __syncthreads();
  }
  const int64_t r = r0 + tr;
  if (r >= N) return;
  const float b = hasBias ? loadElem(bias, r) : 0.f;
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const int t = t0 + tc + j;
    if (t < n) out[(int64_t)t * N + r] = acc[j] + b;
  }
}

/** Adds a bx matrix's outliers, v·x[t, c], to the tiled product's output (one thread per (row, token row)). */
__global__ void bxOutliersAdd(RunState* rs, int fixedRows, BxDev d, const float* x, float* out) {
  if (skipped(rs)) return;
  const int t = blockIdx.y;
  if (t >= activeRows(rs, fixedRows)) return;
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= d.N) return;
  float acc = 0.f;
  for (int j = 0; j < d.C; j++) {
    const uint32_t e = d.outl[r * d.C + j];
    if (e == 0) break;
    acc = fmaf(halfBits((uint16_t)(e >> 16)), x[(int64_t)t * d.K + (e & 0xffffu)], acc);
  }
  out[(int64_t)t * d.N + r] += acc;
}

/** Token rows above which a product goes through the tiled (prefill) kernel. */
#define MM_TILED_ROWS 8

static void matmulImpl(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, const WeightRef* bias, float* out, int maxRows,
                       float* xperm, int splits) {
  WeightRef none{};
  const WeightRef& b = bias ? *bias : none;
  const int hasBias = bias ? 1 : 0;
  const int rowsMax = fixedRows > 0 ? fixedRows : maxRows;
  if (rowsMax > MM_TILED_ROWS) {
    const dim3 grid((unsigned)((w.rows + MM_BM - 1) / MM_BM), (unsigned)((rowsMax + MM_BN - 1) / MM_BN));
    tiledMatmul<<<grid, 256, 0, s>>>(rs, fixedRows, x, w, b, hasBias, out);
    if (w.dtype == DT_BX && w.bx.C > 0) bxOutliersAdd<<<dim3((unsigned)((w.bx.N + 127) / 128), rowsMax), 128, 0, s>>>(rs, fixedRows, w.bx, x, out);
    return;
  }
  switch (w.dtype) {
    case DT_F32: launchDense<DT_F32>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out); return;
    case DT_F16: launchDense<DT_F16>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out); return;
    case DT_BF16: launchDense<DT_BF16>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out); return;
    case DT_Q8_0: launchDense<DT_Q8_0>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out); return;
    default: break;
  }
  const BxDev& d = w.bx;
  const int rows = fixedRows > 0 ? fixedRows : maxRows;
  if (d.full) {
    const int64_t per = (int64_t)d.nG * (d.G / 4);
    bxPermuteX<<<dim3((unsigned)((per + 255) / 256), rows), 256, 0, s>>>(rs, fixedRows, x, d.K, d.G, d.nG, xperm);
  }
  if (splits > 1) {
    const int64_t count = (int64_t)rows * d.N;
    zeroKernel<<<(unsigned)((count + 255) / 256 > 4096 ? 4096 : (count + 255) / 256), 256, 0, s>>>(rs, out, count);
  }
  if (d.G == 32) launchBxG<32>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out, xperm, splits);
  else if (d.G == 64) launchBxG<64>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out, xperm, splits);
  else launchBxG<128>(s, rs, fixedRows, maxRows, x, w, b, hasBias, out, xperm, splits);
}

void launchMatmul(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, const WeightRef* bias, float* out, int maxRows,
                  float* xperm, int splits) {
  matmulImpl(s, rs, fixedRows, x, w, bias, out, maxRows, xperm, splits);
}

void launchBenchMatvec(cudaStream_t s, RunState* rs, const float* x, const WeightRef& w, float* out, int rows, float* xperm, int splits) {
  matmulImpl(s, rs, rows, x, w, nullptr, out, rows, xperm, splits);
}

// ----------------------------------------------------------------- rope

// Angle = f32(pos+t) * invFreq[i] rounded to f32; cos/sin in float64 rounded to f32; the rotation in float64 (as the CPU reference).
__global__ void ropeKernel(RunState* rs, float* x, int heads, int headDim, int ropeDim, int style, const float* invFreq) {
  const int t = blockIdx.y;
  if (skipped(rs) || t >= rs->n) return;
  const int half = ropeDim >> 1;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= heads * half) return;
  const int h = idx / half, i = idx - h * half;
  const float angle = __fmul_rn((float)(rs->pos + t), invFreq[i]);
  const double c = (double)(float)cos((double)angle);
  const double sn = (double)(float)sin((double)angle);
  float* base = x + (int64_t)t * heads * headDim + (int64_t)h * headDim;
  const int a = style == 0 ? 2 * i : i;
  const int b = style == 0 ? 2 * i + 1 : i + half;
  const double x0 = base[a], x1 = base[b];
  base[a] = (float)(x0 * c - x1 * sn);
  base[b] = (float)(x0 * sn + x1 * c);
}

void launchRope(cudaStream_t s, RunState* rs, float* x, int heads, int headDim, int ropeDim, int style, const float* invFreq, int maxRows) {
  const int work = heads * (ropeDim >> 1);
  if (work == 0) return;
  ropeKernel<<<dim3((work + 127) / 128, maxRows), 128, 0, s>>>(rs, x, heads, headDim, ropeDim, style, invFreq);
}

// ----------------------------------------------------------------- kv_store, silu_mul, add, last_row

__global__ void kvStoreKernel(RunState* rs, const float* k, const float* v, float* kc, float* vc, int kw, int vw) {
  if (skipped(rs)) return;
  const int64_t nk = (int64_t)rs->n * kw, nv = (int64_t)rs->n * vw;
  float* kd = kc + (int64_t)rs->pos * kw;
  float* vd = vc + (int64_t)rs->pos * vw;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nk || i < nv; i += (int64_t)gridDim.x * blockDim.x) {
    if (i < nk) kd[i] = k[i];
    if (i < nv) vd[i] = v[i];
  }
}

void launchKvStore(cudaStream_t s, RunState* rs, const float* k, const float* v, float* kc, float* vc, int kw, int vw, int maxRows) {
  const int64_t most = (int64_t)maxRows * (kw > vw ? kw : vw);
  int blocks = (int)((most + 255) / 256);
  if (blocks > 1024) blocks = 1024;
  kvStoreKernel<<<blocks, 256, 0, s>>>(rs, k, v, kc, vc, kw, vw);
}

__global__ void siluMulKernel(RunState* rs, int fixedRows, const float* g, const float* u, float* out, int width) {
  if (skipped(rs)) return;
  const int64_t m = (int64_t)activeRows(rs, fixedRows) * width;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m; i += (int64_t)gridDim.x * blockDim.x) {
    const double x = g[i];
    out[i] = (float)(x / (1.0 + exp(-x)) * (double)u[i]);
  }
}

__global__ void addKernel(RunState* rs, int fixedRows, const float* a, const float* b, float* out, int width) {
  if (skipped(rs)) return;
  const int64_t m = (int64_t)activeRows(rs, fixedRows) * width;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m; i += (int64_t)gridDim.x * blockDim.x) out[i] = a[i] + b[i];
}

static int elementwiseBlocks(int rows, int width) {
  const int64_t m = (int64_t)rows * width;
  int64_t blocks = (m + 255) / 256;
  return (int)(blocks > 2048 ? 2048 : blocks < 1 ? 1 : blocks);
}

void launchSiluMul(cudaStream_t s, RunState* rs, int fixedRows, const float* g, const float* u, float* out, int width, int maxRows) {
  siluMulKernel<<<elementwiseBlocks(fixedRows > 0 ? fixedRows : maxRows, width), 256, 0, s>>>(rs, fixedRows, g, u, out, width);
}

void launchAdd(cudaStream_t s, RunState* rs, int fixedRows, const float* a, const float* b, float* out, int width, int maxRows) {
  addKernel<<<elementwiseBlocks(fixedRows > 0 ? fixedRows : maxRows, width), 256, 0, s>>>(rs, fixedRows, a, b, out, width);
}

__global__ void lastRowKernel(RunState* rs, const float* x, float* out, int width) {
  if (skipped(rs)) return;
  const int64_t base = (int64_t)(rs->n - 1) * width;
  if (base == 0 && x == out) return;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < width; j += gridDim.x * blockDim.x) out[j] = x[base + j];
}

void launchLastRow(cudaStream_t s, RunState* rs, const float* x, float* out, int width) {
  lastRowKernel<<<(width + 255) / 256 > 256 ? 256 : (width + 255) / 256, 256, 0, s>>>(rs, x, out, width);
}

// ----------------------------------------------------------------- attention (split-K over the sequence, then a combine)

#define ATT_CHUNK 256
#define ATT_THREADS 128

int attentionSplits(int cacheRows) { return (cacheRows + ATT_CHUNK - 1) / ATT_CHUNK; }

/**
 * Flash-decoding: block (h, t, z) handles cache rows [z·CHUNK, (z+1)·CHUNK)
 * of query row t, head h and writes (max, Σexp, Σexp·v) for them; the
 * combine kernel merges the chunks. Prefill rows use the same kernels (grid
 * y = rows), each row attending to 0..pos+t.
 */
__global__ void __launch_bounds__(ATT_THREADS) attentionPartial(RunState* rs, const float* q, const float* kc, const float* vc, int heads, int kvHeads,
                                                                 int headDim, float scale, int splits, float* partial, const int32_t* exitLayers,
                                                                 int layer) {
  const int h = blockIdx.x, t = blockIdx.y, z = blockIdx.z;
  if (skipped(rs) || t >= rs->n) return;
  const int L = rs->pos + t + 1;
  const int start = z * ATT_CHUNK;
  float* part = partial + (((int64_t)t * heads + h) * splits + z) * (headDim + 2);
  if (start >= L) return;  // the combine kernel only reads chunks below L
  const int end = min(start + ATT_CHUNK, L);
  extern __shared__ float smem[];
  float* qs = smem;              // headDim
  float* sc = smem + headDim;    // ATT_CHUNK
  const int kvh = (int)(((int64_t)h * kvHeads) / heads);
  const int64_t kvW = (int64_t)kvHeads * headDim;
  const float* qr = q + ((int64_t)t * heads + h) * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) qs[d] = qr[d];
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int p = start + warp; p < end; p += nw) {
    const float* kr = kc + (int64_t)p * kvW + (int64_t)kvh * headDim;
    float dot = 0.f;
    for (int d = lane; d < headDim; d += WARP) dot = fmaf(qs[d], kr[d], dot);
    dot = warpSum(dot);
    // SpecEE mask policy: earlier positions that exited before this layer stored no K/V here.
    const bool masked = exitLayers != nullptr && p < rs->pos && exitLayers[p] < layer;
    if (lane == 0) sc[p - start] = masked ? -INFINITY : dot * scale;
  }
  __syncthreads();
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < end - start; i += blockDim.x) mx = fmaxf(mx, sc[i]);
  mx = blockMax(mx);
  double sum = 0;
  for (int i = threadIdx.x; i < end - start; i += blockDim.x) {
    const float e = mx == -INFINITY ? 0.f : expf(sc[i] - mx);  // a fully masked chunk contributes nothing
    sc[i] = e;
    sum += e;
  }
  sum = blockSumD(sum);  // also orders the sc writes before the reads below
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float acc = 0.f;
    const float* vr = vc + (int64_t)start * kvW + (int64_t)kvh * headDim + d;
    for (int i = 0; i < end - start; i++) acc = fmaf(sc[i], vr[(int64_t)i * kvW], acc);
    part[d] = acc;
  }
  if (threadIdx.x == 0) {
    part[headDim] = mx;
    part[headDim + 1] = (float)sum;
  }
}

__global__ void attentionCombine(RunState* rs, float* out, int heads, int headDim, int splits, const float* partial) {
  const int h = blockIdx.x, t = blockIdx.y;
  if (skipped(rs) || t >= rs->n) return;
  const int L = rs->pos + t + 1;
  const int used = (L + ATT_CHUNK - 1) / ATT_CHUNK;
  const float* base = partial + ((int64_t)t * heads + h) * splits * (headDim + 2);
  float M = -INFINITY;
  for (int z = 0; z < used; z++) M = fmaxf(M, base[(int64_t)z * (headDim + 2) + headDim]);
  double den = 0;
  for (int z = 0; z < used; z++) {
    const float* p = base + (int64_t)z * (headDim + 2);
    if (p[headDim] != -INFINITY) den += (double)p[headDim + 1] * exp((double)p[headDim] - M);
  }
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    double num = 0;
    for (int z = 0; z < used; z++) {
      const float* p = base + (int64_t)z * (headDim + 2);
      if (p[headDim] != -INFINITY) num += (double)p[d] * exp((double)p[headDim] - M);
    }
    out[((int64_t)t * heads + h) * headDim + d] = (float)(num / den);
  }
}

void launchAttention(cudaStream_t s, RunState* rs, const float* q, const float* kc, const float* vc, float* out, int heads, int kvHeads, int headDim,
                     float scale, int cacheRows, float* partial, int maxRows, const int32_t* exitLayers, int layer) {
  const int splits = attentionSplits(cacheRows);
  const size_t shm = sizeof(float) * (size_t)(headDim + ATT_CHUNK);
  attentionPartial<<<dim3(heads, maxRows, splits), ATT_THREADS, shm, s>>>(rs, q, kc, vc, heads, kvHeads, headDim, scale, splits, partial, exitLayers, layer);
  attentionCombine<<<dim3(heads, maxRows), 128, 0, s>>>(rs, out, heads, headDim, splits, partial);
}

// ----------------------------------------------------------------- argmax and sample

/** Index of the largest of l[0..V): lowest index on ties; NaN never wins (all NaN -> 0). One block. */
__device__ int blockArgmax(const float* l, int V) {
  __shared__ float bv[1024];
  __shared__ int bi[1024];
  float best = -INFINITY;
  int bestI = 0x7fffffff;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = l[i];
    // NaN ranks below every number, -Infinity included, and among NaNs the lowest index.
    const float key = v != v ? -INFINITY : v;
    const int ki = v != v ? V + i : i;
    if (key > best || (key == best && ki < bestI)) {
      best = key;
      bestI = ki;
    }
  }
  bv[threadIdx.x] = best;
  bi[threadIdx.x] = bestI;
  __syncthreads();
  for (int o = blockDim.x >> 1; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) {
      const float v = bv[threadIdx.x + o];
      const int i = bi[threadIdx.x + o];
      if (v > bv[threadIdx.x] || (v == bv[threadIdx.x] && i < bi[threadIdx.x])) {
        bv[threadIdx.x] = v;
        bi[threadIdx.x] = i;
      }
    }
    __syncthreads();
  }
  const int r = bi[0];
  __syncthreads();
  return r >= V ? r - V : r;
}

__global__ void __launch_bounds__(1024) argmaxKernel(RunState* rs, const float* x, int32_t* out, int V) {
  if (skipped(rs)) return;
  const int r = blockArgmax(x, V);
  if (threadIdx.x == 0) out[0] = r;
}

void launchArgmax(cudaStream_t s, RunState* rs, const float* x, int32_t* out, int width) { argmaxKernel<<<1, 1024, 0, s>>>(rs, x, out, width); }

static int pow2AtLeast(int v) {
  int p = 1;
  while (p < v) p <<= 1;
  return p;
}

size_t sampleScratchBytes(int V) {
  const size_t P = (size_t)pow2AtLeast(V);
  return P * 4 + P * 4 + P * 8 + ((size_t)V + 15) / 16 * 16;
}

__device__ __forceinline__ bool ranksBefore(const float* l, int a, int b) {
  const float la = l[a], lb = l[b];
  return la > lb || (la == lb && a < b);
}

/**
 * The 'sample' op exactly as program.ts specifies, in one block: NaN ->
 * -Infinity, repetition penalty over distinct history ids, greedy when
 * temperature <= 0; otherwise logits / temperature, a bitonic sort of the
 * candidates (logit descending, index ascending), softmax in float64 with the
 * reference's summation order, top-k / top-p / min-p, inverse CDF at uniform.
 */
__global__ void __launch_bounds__(1024) sampleKernel(RunState* rs, const float* logits, const int32_t* hist, int32_t* out, int V, int P, float* l,
                                                      int32_t* order, double* probs, uint8_t* seen) {
  if (skipped(rs)) return;
  const int tid = threadIdx.x;
  for (int i = tid; i < P; i += blockDim.x) {
    if (i < V) {
      const float x = logits[i];
      l[i] = x != x ? -INFINITY : x;
    } else {
      l[i] = -INFINITY;
    }
    order[i] = i;
  }
  __syncthreads();
  const double penalty = rs->penalty;
  const int hl = rs->historyLength;
  if (tid == 0 && penalty != 1.0 && hl > 0) {
    for (int k = 0; k < hl; k++) {
      const int id = hist[k];
      if (id >= 0 && id < V && seen[id] == 0) {
        seen[id] = 1;
        const float x = l[id];
        l[id] = x > 0 ? (float)((double)x / penalty) : (float)((double)x * penalty);
      }
    }
    for (int k = 0; k < hl; k++) {
      const int id = hist[k];
      if (id >= 0 && id < V) seen[id] = 0;
    }
  }
  __syncthreads();
  const double temp = rs->temperature;
  if (!(temp > 0)) {
    const int r = blockArgmax(l, V);
    if (tid == 0) out[0] = r;
    return;
  }
  for (int i = tid; i < V; i += blockDim.x) l[i] = (float)((double)l[i] / temp);
  __syncthreads();
  // Bitonic sort of order[0..P) into rank order (padding ranks last: -Infinity and index >= V).
  for (int k = 2; k <= P; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = tid; i < P; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const int a = order[i], b = order[ixj];
          const bool up = (i & k) == 0;
          if (up ? ranksBefore(l, b, a) : ranksBefore(l, a, b)) {
            order[i] = b;
            order[ixj] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  int m = V;
  if (rs->topK > 0 && rs->topK < V) m = rs->topK;
  const float top = l[order[0]];
  if (top == -INFINITY) {
    if (tid == 0) out[0] = order[0];
    return;
  }
  for (int i = tid; i < m; i += blockDim.x) probs[i] = exp((double)l[order[i]] - (double)top);
  __syncthreads();
  if (tid != 0) return;
  double sum = 0;
  for (int i = 0; i < m; i++) sum += probs[i];
  for (int i = 0; i < m; i++) probs[i] /= sum;
  if (rs->topP < 1) {
    double cum = 0;
    int keep = m;
    for (int i = 0; i < m; i++) {
      cum += probs[i];
      if (cum >= rs->topP) {
        keep = i + 1;
        break;
      }
    }
    m = keep;
  }
  if (rs->minP > 0) {
    const double threshold = rs->minP * probs[0];
    int keep = 1;
    while (keep < m && probs[keep] >= threshold) keep++;
    m = keep;
  }
  double total = 0;
  for (int i = 0; i < m; i++) total += probs[i];
  const double u = rs->uniform;
  double cum = 0;
  for (int i = 0; i < m; i++) {
    cum += probs[i] / total;
    if (cum > u) {
      out[0] = order[i];
      return;
    }
  }
  out[0] = order[m - 1];
}

void launchSample(cudaStream_t s, RunState* rs, const float* logits, const int32_t* history, int32_t* out, int V, void* scratch) {
  const int P = pow2AtLeast(V);
  char* base = static_cast<char*>(scratch);
  float* l = reinterpret_cast<float*>(base);
  int32_t* order = reinterpret_cast<int32_t*>(base + (size_t)P * 4);
  double* probs = reinterpret_cast<double*>(base + (size_t)P * 8);
  uint8_t* seen = reinterpret_cast<uint8_t*>(base + (size_t)P * 16);
  sampleKernel<<<1, 1024, 0, s>>>(rs, logits, history, out, V, P, l, order, probs, seen);
}

// ----------------------------------------------------------------- SpecEE: exit check, guarded regions, exit record

__global__ void guardBeginKernel(RunState* rs, const int32_t* exit, int mode, int layer) {
  rs->guardExit = exit;
  rs->guardLayer = layer;
  rs->guardMode = mode;
}

__global__ void guardEndKernel(RunState* rs) { rs->guardMode = 0; }

void launchGuardBegin(cudaStream_t s, RunState* rs, const int32_t* exit, int mode, int layer) { guardBeginKernel<<<1, 1, 0, s>>>(rs, exit, mode, layer); }
void launchGuardEnd(cudaStream_t s, RunState* rs) { guardEndKernel<<<1, 1, 0, s>>>(rs); }

__global__ void exitRecordKernel(RunState* rs, const int32_t* exit, int32_t* rec, int lastLayer, int rows) {
  if (skipped(rs)) return;
  const int last = exit != nullptr && exit[1] >= 0 ? exit[1] : lastLayer;
  for (int t = threadIdx.x; t < rs->n && rs->pos + t < rows; t += blockDim.x) rec[rs->pos + t] = last;
}

void launchExitRecord(cudaStream_t s, RunState* rs, const int32_t* exit, int32_t* exitLayers, int lastLayer, int rows) {
  exitRecordKernel<<<1, 256, 0, s>>>(rs, exit, exitLayers, lastLayer, rows);
}

/**
 * exit_check, phase 1 (one block): final RMSNorm of the last row into h, the
 * draft logits from their k LM-head rows, softmax and its change, the
 * predictor MLP, in float64 as the CPU reference. Not fired (or a no-op):
 * localSkip = 1, so phase 2 (the full LM head, ordinary product kernels)
 * reads no weights.
 */
__global__ void __launch_bounds__(256) exitCheckScore(RunState* rs, const float* x, int dim, WeightRef norm, float eps, WeightRef head,
                                                       const int32_t* drafts, int k, float* probs, const int32_t* active, int layer, WeightRef up,
                                                       WeightRef upBias, WeightRef down, WeightRef downBias, int hidden, float threshold,
                                                       const int32_t* exit, float* h, double* z) {
  if (skipped(rs)) return;
  if (exit[1] >= 0 || active[layer] == 0) {
    if (threadIdx.x == 0) rs->localSkip = 1;
    return;
  }
  const float* xr = x + (int64_t)(rs->n - 1) * dim;
  double ss = 0;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) ss += (double)xr[j] * xr[j];
  ss = blockSumD(ss);
  const double inv = 1.0 / sqrt(ss / dim + (double)eps);
  for (int j = threadIdx.x; j < dim; j += blockDim.x) h[j] = (float)((double)xr[j] * inv * (double)loadElem(norm, j));
  __syncthreads();
  for (int j = 0; j < k; j++) {
    const int id = drafts[j];
    const bool ok = id >= 0 && id < head.rows;  // uniform
    double acc = 0;
    if (ok)
      for (int c = threadIdx.x; c < dim; c += blockDim.x) acc += (double)loadElem(head, (int64_t)id * dim + c) * h[c];
    acc = blockSumD(acc);
    if (threadIdx.x == 0) z[j] = ok ? acc : -INFINITY;
  }
  if (threadIdx.x != 0) return;
  double mx = -INFINITY;
  for (int j = 0; j < k; j++) mx = z[j] > mx ? z[j] : mx;
  double sum = 0;
  for (int j = 0; j < k; j++) sum += exp(z[j] - mx);
  // Features [z, p, d] live in z[0..3k).
  for (int j = 0; j < k; j++) {
    const double p = exp(z[j] - mx) / sum;
    z[k + j] = p;
    z[2 * k + j] = p - (double)probs[j];
    probs[j] = (float)p;
  }
  double o = loadElem(downBias, 0);
  for (int u = 0; u < hidden; u++) {
    double a = loadElem(upBias, u);
    for (int j = 0; j < 3 * k; j++) a += (double)loadElem(up, (int64_t)u * 3 * k + j) * z[j];
    if (a > 0) o += (double)loadElem(down, u) * a;
  }
  const double score = 1.0 / (1.0 + exp(-o));
  rs->localSkip = score > (double)threshold ? 0 : 1;
}

/** exit_check, phase 3: when fired, argmax of the full logits; exit if it is a draft. Always clears localSkip. */
__global__ void __launch_bounds__(1024) exitCheckDecide(RunState* rs, const float* logits, int vocab, const int32_t* drafts, int k, int32_t* exit,
                                                         int layer) {
  if (regionSkipped(rs)) return;
  const bool notFired = rs->localSkip != 0;
  __syncthreads();
  if (notFired) {
    if (threadIdx.x == 0) rs->localSkip = 0;
    return;
  }
  const int t = blockArgmax(logits, vocab);
  if (threadIdx.x == 0) {
    for (int j = 0; j < k; j++) {
      if (drafts[j] == t) {
        exit[0] = t;
        exit[1] = layer;
        break;
      }
    }
  }
}

void launchExitCheck(cudaStream_t s, RunState* rs, const float* x, int dim, const WeightRef& norm, float eps, const WeightRef& head, const int32_t* drafts,
                     int k, float* probs, const int32_t* active, int layer, const WeightRef& up, const WeightRef& upBias, const WeightRef& down,
                     const WeightRef& downBias, int hidden, float threshold, float* logits, int32_t* exit, float* h, float* xperm, int splits) {
  // h scratch: dim floats, then 3k doubles for the features (8-byte aligned).
  double* z = reinterpret_cast<double*>(h + ((dim + 1) / 2) * 2);
  exitCheckScore<<<1, 256, 0, s>>>(rs, x, dim, norm, eps, head, drafts, k, probs, active, layer, up, upBias, down, downBias, hidden, threshold, exit, h, z);
  matmulImpl(s, rs, 1, h, head, nullptr, logits, 1, xperm, splits);
  exitCheckDecide<<<1, 1024, 0, s>>>(rs, logits, (int)head.rows, drafts, k, exit, layer);
}
