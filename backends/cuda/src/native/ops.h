// Kernel launchers shared by the addon (addon.cc, host compiler) and the
// kernels (kernels.cu, nvcc). Every launcher only enqueues work on `stream`,
// so a program can be captured into a CUDA graph once and replayed.
#pragma once
#ifdef BITEXIT_EMU
#include "cuda_emu.h"  // test/emu: host emulation for GPU-less tests
#else
#include <cuda_runtime.h>
#endif
#include <stdint.h>
#include "bx.h"

/**
 * Runtime scalars of one step, in device memory. Kernels read pos and n from
 * here (not from launch arguments) so the same captured graph serves every
 * step; the host uploads this struct before each replay and reads it back
 * (error fields) in the run's single readback.
 */
struct RunState {
  int32_t pos;
  int32_t n;
  int32_t topK;
  int32_t historyLength;
  // Doubles, as the engine passes them: the CPU reference divides f32 logits by these in float64.
  double temperature;
  double topP;
  double minP;
  double penalty;
  double uniform;
  int32_t error;     // 0, or ERR_* set by a kernel
  int32_t errorArg;  // e.g. the offending token id
  int32_t errorRow;
  // SpecEE, all on the device. A guarded region (guard_begin .. guard_end)
  // stores its exit buffer and condition here; every kernel re-evaluates it
  // when it starts (so an exit inside the region skips the rest) and returns
  // before reading any weight. localSkip: set by exit_check's first phase when
  // the predictor did not fire, so the full LM head that follows is skipped.
  int32_t guardMode;  // 0 none, 1 run while exit[1] < 0, 2 run while 0 <= exit[1] < guardLayer
  int32_t guardLayer;
  int32_t localSkip;
  const int32_t* guardExit;
};

enum { ERR_TOKEN_RANGE = 1 };

enum WeightDT { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2, DT_Q8_0 = 3, DT_BX = 4 };

/** A weight as the kernels see it. */
struct WeightRef {
  const void* data;
  int32_t dtype;
  int64_t rows, cols;
  BxDev bx;  // valid when dtype == DT_BX
};

void launchEmbed(cudaStream_t s, RunState* rs, const WeightRef& table, const int32_t* ids, float* out, int maxRows);
void launchRmsnorm(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, float eps, float* out, int maxRows);
/** xperm scratch (bx only): maxRows * nG * G floats, x in group-interleaved order (bxPermuteX). splits > 1 zeroes `out` and accumulates with atomics. */
void launchMatmul(cudaStream_t s, RunState* rs, int fixedRows, const float* x, const WeightRef& w, const WeightRef* bias, float* out, int maxRows,
                  float* xperm, int splits);
void launchRope(cudaStream_t s, RunState* rs, float* x, int heads, int headDim, int ropeDim, int style, const float* invFreq, int maxRows);
void launchKvStore(cudaStream_t s, RunState* rs, const float* k, const float* v, float* kc, float* vc, int kw, int vw, int maxRows);
/** partial scratch: maxRows * heads * attentionSplits(cacheRows) * (headDim + 2) floats. exitLayers (or null): SpecEE mask policy. */
int attentionSplits(int cacheRows);
void launchAttention(cudaStream_t s, RunState* rs, const float* q, const float* kc, const float* vc, float* out, int heads, int kvHeads, int headDim,
                     float scale, int cacheRows, float* partial, int maxRows, const int32_t* exitLayers, int layer);
void launchSiluMul(cudaStream_t s, RunState* rs, int fixedRows, const float* g, const float* u, float* out, int width, int maxRows);
void launchAdd(cudaStream_t s, RunState* rs, int fixedRows, const float* a, const float* b, float* out, int width, int maxRows);
void launchLastRow(cudaStream_t s, RunState* rs, const float* x, float* out, int width);
void launchArgmax(cudaStream_t s, RunState* rs, const float* x, int32_t* out, int width);
/** scratch: sampleScratchBytes(V) bytes. */
size_t sampleScratchBytes(int V);
void launchSample(cudaStream_t s, RunState* rs, const float* logits, const int32_t* history, int32_t* out, int V, void* scratch);

/** SpecEE exit check (program.ts): h scratch [dim], xperm scratch (nG * G floats) for a bx LM head. */
void launchExitCheck(cudaStream_t s, RunState* rs, const float* x, int dim, const WeightRef& norm, float eps, const WeightRef& head, const int32_t* drafts,
                     int k, float* probs, const int32_t* active, int layer, const WeightRef& up, const WeightRef& upBias, const WeightRef& down,
                     const WeightRef& downBias, int hidden, float threshold, float* logits, int32_t* exit, float* h, float* xperm, int splits);
void launchGuardBegin(cudaStream_t s, RunState* rs, const int32_t* exit, int mode, int layer);
void launchGuardEnd(cudaStream_t s, RunState* rs);
void launchExitRecord(cudaStream_t s, RunState* rs, const int32_t* exit, int32_t* exitLayers, int lastLayer, int rows);

/** Benchmarks: plain matrix-vector products without a program around them. */
void launchBenchMatvec(cudaStream_t s, RunState* rs, const float* x, const WeightRef& w, float* out, int rows, float* xperm, int splits);
