// A small CUDA emulator for tests on machines without a GPU: just enough of
// the runtime API and of the device built-ins for src/native/*.cc|cu to run
// on the host, compiled with g++ -DBITEXIT_EMU. Every GPU thread of a block
// is a ucontext coroutine; the block's threads run round-robin on one OS
// thread, so __syncthreads and warp shuffles are barriers where a thread
// yields until its block (or warp) has arrived. Blocks run one after another,
// so `__shared__` is plain `static`. Streams execute immediately; stream
// capture records launches and copies into a graph that cudaGraphLaunch
// replays. Numerics are the host's IEEE f32/f64 with FMA contraction off.
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <ucontext.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define __VECTOR_TYPES_H__ 1
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  uint32_t x, y, z, w;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define CUDART_VERSION 13000

typedef int cudaError_t;
enum : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
};
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum { cudaStreamNonBlocking = 1 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };

namespace emu {
struct Graph {
  std::vector<std::function<void()>> nodes;
};
struct Stream {
  Graph* capturing = nullptr;
};
}  // namespace emu
typedef emu::Stream* cudaStream_t;
typedef emu::Graph* cudaGraph_t;
typedef emu::Graph* cudaGraphExec_t;
typedef int* cudaEvent_t;

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
  int multiProcessorCount;
};

// ------------------------------------------------------------------ scheduler

namespace emu {
struct Thread {
  ucontext_t ctx;
  dim3 tid;
  bool done = false;
  int warp = 0;
};
struct Barrier {
  int count = 0, gen = 0, expected = 0;
};

inline ucontext_t& mainCtx() {
  static ucontext_t c;
  return c;
}
inline Thread*& cur() {
  static Thread* t = nullptr;
  return t;
}
inline dim3& blockIdxV() {
  static dim3 v;
  return v;
}
inline dim3& blockDimV() {
  static dim3 v;
  return v;
}
inline dim3& gridDimV() {
  static dim3 v;
  return v;
}
inline std::vector<char>& dynShared() {
  static std::vector<char> v;
  return v;
}
inline Barrier& blockBar() {
  static Barrier b;
  return b;
}
inline std::vector<Barrier>& warpBars() {
  static std::vector<Barrier> v;
  return v;
}
inline std::vector<double>& shuffle() {
  static std::vector<double> v;
  return v;
}
inline std::function<void()>& body() {
  static std::function<void()> f;
  return f;
}

inline void yield() { swapcontext(&cur()->ctx, &mainCtx()); }

inline void arrive(Barrier& b) {
  const int g = b.gen;
  if (++b.count >= b.expected) {
    b.count = 0;
    b.gen++;
    return;
  }
  while (b.gen == g) yield();
}

inline void leave(Barrier& b) {
  b.expected--;
  if (b.count > 0 && b.count >= b.expected) {
    b.count = 0;
    b.gen++;
  }
}

inline void trampoline() {
  body()();
  Thread* t = cur();
  t->done = true;
  leave(blockBar());
  leave(warpBars()[t->warp]);
}

/** Runs one block: every thread a coroutine, round-robin until all are done. */
inline void runBlock(unsigned nThreads) {
  static std::vector<Thread> threads;
  static std::vector<std::vector<char>> stacks;
  const size_t stackBytes = 256 * 1024;
  threads.assign(nThreads, Thread());
  if (stacks.size() < nThreads) stacks.resize(nThreads);
  const unsigned nWarps = (nThreads + 31) / 32;
  warpBars().assign(nWarps, Barrier());
  shuffle().assign(nWarps * 32, 0.0);
  blockBar() = Barrier();
  blockBar().expected = (int)nThreads;
  for (unsigned i = 0; i < nThreads; i++) {
    Thread& t = threads[i];
    const dim3 bd = blockDimV();
    t.tid = dim3(i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y));
    t.warp = (int)(i / 32);
    warpBars()[t.warp].expected++;
    if (stacks[i].size() < stackBytes) stacks[i].resize(stackBytes);
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = stacks[i].data();
    t.ctx.uc_stack.ss_size = stackBytes;
    t.ctx.uc_link = &mainCtx();
    makecontext(&t.ctx, (void (*)())trampoline, 0);
  }
  for (bool again = true; again;) {
    again = false;
    for (unsigned i = 0; i < nThreads; i++) {
      if (threads[i].done) continue;
      cur() = &threads[i];
      swapcontext(&mainCtx(), &threads[i].ctx);
      if (!threads[i].done) again = true;
    }
  }
  cur() = nullptr;
}

/** Runs `work` now, or records it when the stream is being captured. */
inline void submit(cudaStream_t s, std::function<void()> work) {
  if (s && s->capturing) s->capturing->nodes.push_back(std::move(work));
  else work();
}

inline uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline float halfToFloat(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu;
  uint32_t frac = h & 0x3ffu;
  if (exp == 0) {
    if (frac == 0) return u2f(sign);
    int e = -1;
    do {
      frac <<= 1;
      e++;
    } while ((frac & 0x400u) == 0);
    return u2f(sign | ((uint32_t)(127 - 15 - e) << 23) | ((frac & 0x3ffu) << 13));
  }
  if (exp == 0x1f) return u2f(sign | 0x7f800000u | (frac << 13));
  return u2f(sign | ((exp + 112) << 23) | (frac << 13));
}
}  // namespace emu

#define threadIdx (emu::cur()->tid)
#define blockIdx (emu::blockIdxV())
#define blockDim (emu::blockDimV())
#define gridDim (emu::gridDimV())

template <class... P, class... A>
void emuLaunch(void (*k)(P...), dim3 grid, dim3 block, size_t shm, cudaStream_t s, A&&... a) {
  std::tuple<std::decay_t<P>...> args(std::forward<A>(a)...);
  emu::submit(s, [=]() {
    emu::gridDimV() = grid;
    emu::blockDimV() = block;
    emu::dynShared().assign(shm + 16, 0);
    const unsigned n = block.x * block.y * block.z;
    for (unsigned z = 0; z < grid.z; z++)
      for (unsigned y = 0; y < grid.y; y++)
        for (unsigned x = 0; x < grid.x; x++) {
          emu::blockIdxV() = dim3(x, y, z);
          emu::body() = [&]() { std::apply(k, args); };
          emu::runBlock(n);
        }
  });
}

// ------------------------------------------------------------------ device built-ins

inline void __syncthreads() { emu::arrive(emu::blockBar()); }

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
  emu::Thread* t = emu::cur();
  const int lane = (int)(((t->tid.z * emu::blockDimV().y + t->tid.y) * emu::blockDimV().x + t->tid.x) % 32);
  double* buf = emu::shuffle().data() + t->warp * 32;
  buf[lane] = (double)v;
  emu::arrive(emu::warpBars()[t->warp]);
  const T r = (T)buf[lane ^ o];
  emu::arrive(emu::warpBars()[t->warp]);
  return r;
}

template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}
inline int atomicCAS(int* p, int cmp, int v) {
  const int old = *p;
  if (old == cmp) *p = v;
  return old;
}
inline float __uint_as_float(uint32_t u) { return emu::u2f(u); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline uint16_t __ushort_as_half(uint16_t h) { return h; }
inline float __half2float(uint16_t h) { return emu::halfToFloat(h); }
template <class T>
inline T min(T a, T b) {
  return a < b ? a : b;
}
template <class T>
inline T max(T a, T b) {
  return a > b ? a : b;
}

// ------------------------------------------------------------------ runtime API

inline const char* cudaGetErrorName(cudaError_t e) { return e == 0 ? "cudaSuccess" : e == 2 ? "cudaErrorMemoryAllocation" : "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == 0 ? "no error" : e == 2 ? "out of memory" : "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  memset(p, 0, sizeof *p);
  strcpy(p->name, "bitexit CUDA emulator (host)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = (size_t)8 << 30;
  p->multiProcessorCount = 4;
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
  *f = *t = (size_t)8 << 30;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!*p) return cudaErrorMemoryAllocation;
  memset(*p, 0xA5, (bytes + 255) / 256 * 256);  // garbage, like real device memory
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaMemset(void* p, int v, size_t n) {
  memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  emu::submit(s, [=]() { memset(p, v, n); });
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* d, const void* src, size_t n, cudaMemcpyKind) {
  memcpy(d, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* src, size_t n, cudaMemcpyKind, cudaStream_t s) {
  emu::submit(s, [=]() { memcpy(d, src, n); });
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new emu::Stream();
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (s->capturing) return cudaErrorInvalidValue;
  s->capturing = new emu::Graph();
  return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = s->capturing;
  s->capturing = nullptr;
  return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = new emu::Graph(*g);
  return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  for (auto& n : e->nodes) emu::submit(s, n);
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new int(0);
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 1.f;
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
template <class T>
inline cudaError_t cudaMallocHost(T** p, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(p), bytes);
}
