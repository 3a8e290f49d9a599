// N-API binding of the CUDA backend (node-addon-api). The TypeScript side
// (src/backend.ts) validates programs and owns the handle bookkeeping; this
// file owns device memory, the stream, program capture into CUDA graphs and
// the one pinned readback per run. Anything slow (weight upload, readback,
// waiting for a run) happens in Napi::AsyncWorker threads so the event loop
// never blocks on the GPU.
//
// The CUDA runtime is linked statically; the driver (libcuda.so.1) is loaded
// by the runtime on first use, so this addon loads on machines without a
// driver and `probe()` explains what is missing.
#ifdef BITEXIT_EMU
#include "cuda_emu.h"  // test/emu: host emulation for GPU-less tests
#else
#include <cuda_runtime.h>
#endif
#include <dlfcn.h>
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops.h"

namespace {

std::string cudaVersionString(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

/** A CUDA failure as a JS Error carrying the numeric code and name, mapped to typed errors in TypeScript. */
Napi::Error cudaError(Napi::Env env, cudaError_t err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  e.Set("cudaCode", Napi::Number::New(env, (double)err));
  e.Set("cudaName", Napi::String::New(env, cudaGetErrorName(err)));
  return e;
}

#define CK(env, call, what)                                      \
  do {                                                           \
    cudaError_t e_ = (call);                                     \
    if (e_ != cudaSuccess) throw cudaError(env, e_, what);       \
  } while (0)

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  auto fail = [&](const std::string& reason) {
    r.Set("ok", false);
    r.Set("reason", reason);
    return r;
  };
  // The runtime loads the driver itself; checking first gives the plain reason.
#ifndef BITEXIT_EMU
  void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!drv) return fail("no NVIDIA driver (libcuda.so.1 not found)");
#endif
  int driverVersion = 0;
  cudaDriverGetVersion(&driverVersion);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver) {
    return fail("driver too old (it supports CUDA " + cudaVersionString(driverVersion) + ", this build needs CUDA " +
                cudaVersionString(CUDART_VERSION) + ")");
  }
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) return fail("no CUDA device");
  if (err != cudaSuccess) return fail(std::string("CUDA initialisation failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  cudaDeviceProp p;
  err = cudaGetDeviceProperties(&p, 0);
  if (err != cudaSuccess) return fail(std::string("cannot read device 0: ") + cudaGetErrorString(err));
  if (p.major < 8) {
    return fail(std::string(p.name) + " has compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                "; this build targets 8.0 and newer (sm_80, sm_86, sm_89, sm_90)");
  }
  r.Set("ok", true);
  char detail[512];
  snprintf(detail, sizeof detail, "%s (compute %d.%d, %.1f GiB, %d SMs), driver CUDA %s, runtime %s", p.name, p.major, p.minor,
           p.totalGlobalMem / 1073741824.0, p.multiProcessorCount, cudaVersionString(driverVersion).c_str(), cudaVersionString(CUDART_VERSION).c_str());
  r.Set("detail", std::string(detail));
  r.Set("name", std::string(p.name));
  r.Set("sms", p.multiProcessorCount);
  r.Set("totalBytes", (double)p.totalGlobalMem);
  return r;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("cudaRuntime", cudaVersionString(CUDART_VERSION));
  r.Set("archs", std::string(BITEXIT_CUDA_ARCHS));
  return r;
}

struct Alloc {
  void* ptr = nullptr;
  size_t bytes = 0;
  bool weight = false;
  WeightRef ref{};
  void* tables = nullptr;  // bx per-group/per-slot tables
};

struct Program {
  std::vector<std::function<void(cudaStream_t)>> launches;
  cudaGraphExec_t exec = nullptr;
  bool captured = false;
};

class Context;

/** Runs `work` on a worker thread; resolves with `done()` on the JS thread, or rejects with the CUDA error. */
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, int device, std::function<cudaError_t()> work, std::function<Napi::Value(Napi::Env)> done, std::string what,
      Napi::Value keep = Napi::Value())
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), device_(device), work_(std::move(work)), done_(std::move(done)),
        what_(std::move(what)) {
    if (!keep.IsEmpty() && !keep.IsUndefined()) keep_ = Napi::Persistent(keep);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    cudaError_t e = cudaSetDevice(device_);
    if (e == cudaSuccess) e = work_();
    err_ = e;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != cudaSuccess) {
      deferred_.Reject(cudaError(env, err_, what_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  int device_;
  std::function<cudaError_t()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::string what_;
  Napi::Reference<Napi::Value> keep_;
  cudaError_t err_ = cudaSuccess;
};

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Context",
                       {
                           InstanceMethod("alloc", &Context::AllocBuffer),
                           InstanceMethod("uploadWeight", &Context::UploadWeight),
                           InstanceMethod("write", &Context::Write),
                           InstanceMethod("read", &Context::Read),
                           InstanceMethod("free", &Context::Free),
                           InstanceMethod("compile", &Context::Compile),
                           InstanceMethod("run", &Context::Run),
                           InstanceMethod("releaseProgram", &Context::ReleaseProgram),
                           InstanceMethod("memInfo", &Context::MemInfo),
                           InstanceMethod("benchMatvec", &Context::BenchMatvec),
                           InstanceMethod("benchCopy", &Context::BenchCopy),
                           InstanceMethod("dispose", &Context::Dispose),
                       });
  }

  explicit Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    device_ = info.Length() > 0 ? info[0].As<Napi::Number>().Int32Value() : 0;
    CK(env, cudaSetDevice(device_), "cudaSetDevice");
    cudaDeviceProp p;
    CK(env, cudaGetDeviceProperties(&p, device_), "cudaGetDeviceProperties");
    sms_ = p.multiProcessorCount;
    CK(env, cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    CK(env, cudaStreamCreateWithFlags(&captureStream_, cudaStreamNonBlocking), "cudaStreamCreate(capture)");
    CK(env, cudaMalloc(&rs_, sizeof(RunState)), "cudaMalloc(run state)");
    CK(env, cudaMemset(rs_, 0, sizeof(RunState)), "cudaMemset");
    CK(env, cudaMallocHost(&rsHost_, sizeof(RunState)), "cudaMallocHost(run state)");
    memset(rsHost_, 0, sizeof(RunState));
    const char* g = getenv("BITEXIT_CUDA_GRAPHS");
    useGraphs_ = !(g && strcmp(g, "0") == 0);
  }

  ~Context() { release(); }

 private:
  int device_ = 0;
  int sms_ = 1;
  bool useGraphs_ = true;
  bool disposed_ = false;
  cudaStream_t stream_ = nullptr;
  cudaStream_t captureStream_ = nullptr;  // only ever captured into graphs, never executes work
  RunState* rs_ = nullptr;
  RunState* rsHost_ = nullptr;
  char* stageIn_ = nullptr;
  size_t stageInBytes_ = 0;
  char* stageOut_ = nullptr;
  size_t stageOutBytes_ = 0;
  int nextId_ = 1;
  std::unordered_map<int, Alloc> allocs_;
  std::unordered_map<int, std::unique_ptr<Program>> programs_;

  void release() {
    if (disposed_) return;
    disposed_ = true;
    cudaSetDevice(device_);
    if (stream_) cudaStreamSynchronize(stream_);
    for (auto& kv : programs_)
      if (kv.second->exec) cudaGraphExecDestroy(kv.second->exec);
    programs_.clear();
    for (auto& kv : allocs_) {
      cudaFree(kv.second.ptr);
      if (kv.second.tables) cudaFree(kv.second.tables);
    }
    allocs_.clear();
    if (rs_) cudaFree(rs_);
    if (rsHost_) cudaFreeHost(rsHost_);
    if (stageIn_) cudaFreeHost(stageIn_);
    if (stageOut_) cudaFreeHost(stageOut_);
    if (stream_) cudaStreamDestroy(stream_);
    if (captureStream_) cudaStreamDestroy(captureStream_);
  }

  void live(Napi::Env env) {
    if (disposed_) throw Napi::Error::New(env, "cuda context was disposed");
    CK(env, cudaSetDevice(device_), "cudaSetDevice");
  }

  Alloc& get(Napi::Env env, int id) {
    auto it = allocs_.find(id);
    if (it == allocs_.end()) throw Napi::Error::New(env, "unknown device allocation " + std::to_string(id));
    return it->second;
  }

  void* ptr(Napi::Env env, double id) { return id == 0 ? nullptr : get(env, (int)id).ptr; }

  /** alloc(bytes) -> id of a zero-filled device buffer. */
  Napi::Value AllocBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    size_t bytes = (size_t)info[0].As<Napi::Number>().DoubleValue();
    Alloc a;
    a.bytes = bytes;
    CK(env, cudaMalloc(&a.ptr, bytes < 16 ? 16 : bytes), "cudaMalloc(" + std::to_string(bytes) + " bytes)");
    cudaError_t e = cudaMemsetAsync(a.ptr, 0, bytes, stream_);
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) {
      cudaFree(a.ptr);
      throw cudaError(env, e, "cudaMemset");
    }
    int id = nextId_++;
    allocs_[id] = a;
    return Napi::Number::New(env, id);
  }

  /**
   * uploadWeight(dtype, rows, cols, Uint8Array) -> Promise<id>. bx blobs get
   * their per-group tables computed here (bx.h) and uploaded beside them.
   */
  Napi::Value UploadWeight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    const int dtype = info[0].As<Napi::Number>().Int32Value();
    const int64_t rows = info[1].As<Napi::Number>().Int64Value();
    const int64_t cols = info[2].As<Napi::Number>().Int64Value();
    Napi::Uint8Array data = info[3].As<Napi::Uint8Array>();
    const uint8_t* src = data.Data();
    const size_t bytes = data.ByteLength();
    Alloc a;
    a.weight = true;
    a.bytes = bytes;
    // Slack after the blob: the bx kernels may read a few words past a partial last slot.
    const size_t padded = (bytes + 255) / 256 * 256 + 256;
    CK(env, cudaMalloc(&a.ptr, padded), "cudaMalloc(weight, " + std::to_string(bytes) + " bytes)");
    cudaMemsetAsync(static_cast<char*>(a.ptr) + bytes, 0, padded - bytes, stream_);
    a.ref.data = a.ptr;
    a.ref.dtype = dtype;
    a.ref.rows = rows;
    a.ref.cols = cols;
    if (dtype == DT_BX) {
      BxLayout L{};
      std::vector<uint32_t> widths((cols + 31) / 32 + 1);
      const char* err = bxLayout(src, bytes, &L, widths.data(), (uint32_t)widths.size());
      if (err) {
        cudaFree(a.ptr);
        throw Napi::Error::New(env, std::string("bx blob: ") + err);
      }
      const uint32_t nG = L.nG, n23 = L.n2 + L.n3;
      // Tables: width, slot, slot1, zoff (nG each), then the slot->group lists.
      std::vector<uint32_t> t((size_t)4 * nG + L.n4 + n23 + L.n3 + 4, 0);
      uint32_t* gWidth = t.data();
      uint32_t* gSlot = gWidth + nG;
      uint32_t* gSlot1 = gSlot + nG;
      uint32_t* gZoff = gSlot1 + nG;
      uint32_t* s4 = gZoff + nG;
      uint32_t* s2 = s4 + L.n4;
      uint32_t* s1 = s2 + n23;
      memcpy(gWidth, widths.data(), nG * 4);
      bxTables(L, widths.data(), gSlot, gSlot1, gZoff, s4, s2, s1);
      cudaError_t e = cudaMalloc(&a.tables, t.size() * 4);
      if (e == cudaSuccess) e = cudaMemcpy(a.tables, t.data(), t.size() * 4, cudaMemcpyHostToDevice);
      if (e != cudaSuccess) {
        cudaFree(a.ptr);
        if (a.tables) cudaFree(a.tables);
        throw cudaError(env, e, "bx tables");
      }
      const uint32_t* tb = static_cast<const uint32_t*>(a.tables);
      const char* base = static_cast<const char*>(a.ptr);
      BxDev& d = a.ref.bx;
      d.p4 = reinterpret_cast<const uint32_t*>(base + L.o4);
      d.p2 = reinterpret_cast<const uint32_t*>(base + L.o2);
      d.p1 = reinterpret_cast<const uint32_t*>(base + L.o1);
      d.meta = reinterpret_cast<const uint32_t*>(base + L.oM);
      d.so = (L.flags & 1) ? reinterpret_cast<const uint32_t*>(base + L.oS) : nullptr;
      d.outl = L.C ? reinterpret_cast<const uint32_t*>(base + L.oO) : nullptr;
      d.gWidth = tb;
      d.gSlot = tb + nG;
      d.gSlot1 = tb + 2 * nG;
      d.gZoff = tb + 3 * nG;
      d.s4Group = tb + 4 * nG;
      d.s2Group = d.s4Group + L.n4;
      d.s1Group = d.s2Group + n23;
      d.N = (int32_t)L.N;
      d.K = (int32_t)L.K;
      d.G = (int32_t)L.G;
      d.nG = (int32_t)nG;
      d.n4 = (int32_t)L.n4;
      d.n23 = (int32_t)n23;
      d.n3 = (int32_t)L.n3;
      d.W4 = (int32_t)L.W4;
      d.W2 = (int32_t)L.W2;
      d.W1 = (int32_t)L.W1;
      d.F = (int32_t)L.F;
      d.secondOrder = (int32_t)(L.flags & 1);
      d.SR = (int32_t)L.SR;
      d.SG = (int32_t)L.SG;
      d.tileCols = (int32_t)L.tileCols;
      d.C = (int32_t)L.C;
      d.vec4 = L.W4 % 4 == 0;
      d.vec2 = L.W2 % 4 == 0;
      d.vec1 = L.W1 % 4 == 0;
      d.full = L.K % L.G == 0;
      d.M = (int64_t)L.M;
    }
    const int id = nextId_++;
    allocs_[id] = a;
    void* dst = a.ptr;
    cudaStream_t st = stream_;
    // Synchronous-from-the-worker copy straight from the JS buffer, which `keep` holds alive.
    auto* job = new Job(
        env, device_,
        [=]() {
          cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st);
          return e == cudaSuccess ? cudaStreamSynchronize(st) : e;
        },
        [id](Napi::Env e) { return Napi::Number::New(e, id); }, "weight upload", data);
    job->Queue();
    return job->Promise();
  }

  /** write(id, TypedArray, byteOffset): small host data, synchronous. */
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Alloc& a = get(env, info[0].As<Napi::Number>().Int32Value());
    Napi::TypedArray arr = info[1].As<Napi::TypedArray>();
    const size_t off = (size_t)info[2].As<Napi::Number>().DoubleValue();
    const size_t bytes = arr.ByteLength();
    if (off + bytes > a.bytes) throw Napi::Error::New(env, "write past the end of a device buffer");
    const char* src = static_cast<const char*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    CK(env, cudaMemcpyAsync(static_cast<char*>(a.ptr) + off, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpy(write)");
    CK(env, cudaStreamSynchronize(stream_), "cudaStreamSynchronize(write)");
    return env.Undefined();
  }

  /** read(id) -> Promise<ArrayBuffer> of the whole buffer. */
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Alloc& a = get(env, info[0].As<Napi::Number>().Int32Value());
    auto host = std::make_shared<std::vector<char>>(a.bytes);
    void* srcp = a.ptr;
    size_t bytes = a.bytes;
    cudaStream_t st = stream_;
    auto* job = new Job(
        env, device_,
        [=]() {
          cudaError_t e = cudaMemcpyAsync(host->data(), srcp, bytes, cudaMemcpyDeviceToHost, st);
          return e == cudaSuccess ? cudaStreamSynchronize(st) : e;
        },
        [host](Napi::Env e) {
          Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(e, host->size());
          memcpy(ab.Data(), host->data(), host->size());
          return ab;
        },
        "readBuffer");
    job->Queue();
    return job->Promise();
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    const int id = info[0].As<Napi::Number>().Int32Value();
    Alloc& a = get(env, id);
    cudaStreamSynchronize(stream_);
    cudaFree(a.ptr);
    if (a.tables) cudaFree(a.tables);
    allocs_.erase(id);
    return env.Undefined();
  }

  const WeightRef& weight(Napi::Env env, double id) {
    Alloc& a = get(env, (int)id);
    if (!a.weight) throw Napi::Error::New(env, "allocation " + std::to_string((int)id) + " is not a weight");
    return a.ref;
  }

  /**
   * compile(Float64Array records, maxRows) -> program id. Each op is 32
   * doubles: [kind, fixedRows, args...] with allocation ids for buffers and
   * weights (see OP_* in src/native-binding.ts).
   */
  Napi::Value Compile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Napi::Float64Array recs = info[0].As<Napi::Float64Array>();
    const int maxRows = info[1].As<Napi::Number>().Int32Value();
    auto prog = std::make_unique<Program>();
    const size_t nOps = recs.ElementLength() / 32;
    RunState* rs = rs_;
    for (size_t i = 0; i < nOps; i++) {
      const double* a = recs.Data() + i * 32;
      const int kind = (int)a[0];
      const int fixed = (int)a[1];
      switch (kind) {
        case 1: {  // embed
          WeightRef table = weight(env, a[2]);
          auto ids = static_cast<const int32_t*>(ptr(env, a[3]));
          auto out = static_cast<float*>(ptr(env, a[4]));
          prog->launches.push_back([=](cudaStream_t s) { launchEmbed(s, rs, table, ids, out, maxRows); });
          break;
        }
        case 2: {  // rmsnorm
          auto x = static_cast<const float*>(ptr(env, a[2]));
          WeightRef w = weight(env, a[3]);
          float eps = (float)a[4];
          auto out = static_cast<float*>(ptr(env, a[5]));
          prog->launches.push_back([=](cudaStream_t s) { launchRmsnorm(s, rs, fixed, x, w, eps, out, maxRows); });
          break;
        }
        case 3: {  // matmul
          auto x = static_cast<const float*>(ptr(env, a[2]));
          WeightRef w = weight(env, a[3]);
          bool hasBias = a[4] != 0;
          WeightRef bias = hasBias ? weight(env, a[4]) : WeightRef{};
          auto out = static_cast<float*>(ptr(env, a[5]));
          auto xperm = static_cast<float*>(ptr(env, a[6]));
          int splits = splitsFor(w, (int)a[7]);
          prog->launches.push_back([=](cudaStream_t s) { launchMatmul(s, rs, fixed, x, w, hasBias ? &bias : nullptr, out, maxRows, xperm, splits); });
          break;
        }
        case 4: {  // rope
          auto x = static_cast<float*>(ptr(env, a[2]));
          int heads = (int)a[3], headDim = (int)a[4], ropeDim = (int)a[5], style = (int)a[6];
          auto inv = static_cast<const float*>(ptr(env, a[7]));
          prog->launches.push_back([=](cudaStream_t s) { launchRope(s, rs, x, heads, headDim, ropeDim, style, inv, maxRows); });
          break;
        }
        case 5: {  // kv_store
          auto k = static_cast<const float*>(ptr(env, a[2]));
          auto v = static_cast<const float*>(ptr(env, a[3]));
          auto kc = static_cast<float*>(ptr(env, a[4]));
          auto vc = static_cast<float*>(ptr(env, a[5]));
          int kw = (int)a[6], vw = (int)a[7];
          prog->launches.push_back([=](cudaStream_t s) { launchKvStore(s, rs, k, v, kc, vc, kw, vw, maxRows); });
          break;
        }
        case 6: {  // attention
          auto q = static_cast<const float*>(ptr(env, a[2]));
          auto kc = static_cast<const float*>(ptr(env, a[3]));
          auto vc = static_cast<const float*>(ptr(env, a[4]));
          auto out = static_cast<float*>(ptr(env, a[5]));
          int heads = (int)a[6], kvHeads = (int)a[7], headDim = (int)a[8];
          float scale = (float)a[9];
          int cacheRows = (int)a[10];
          auto partial = static_cast<float*>(ptr(env, a[11]));
          auto exitLayers = static_cast<const int32_t*>(ptr(env, a[12]));
          int layer = (int)a[13];
          prog->launches.push_back([=](cudaStream_t s) {
            launchAttention(s, rs, q, kc, vc, out, heads, kvHeads, headDim, scale, cacheRows, partial, maxRows, exitLayers, layer);
          });
          break;
        }
        case 7: {  // silu_mul
          auto g = static_cast<const float*>(ptr(env, a[2]));
          auto u = static_cast<const float*>(ptr(env, a[3]));
          auto out = static_cast<float*>(ptr(env, a[4]));
          int width = (int)a[5];
          prog->launches.push_back([=](cudaStream_t s) { launchSiluMul(s, rs, fixed, g, u, out, width, maxRows); });
          break;
        }
        case 8: {  // add
          auto x = static_cast<const float*>(ptr(env, a[2]));
          auto y = static_cast<const float*>(ptr(env, a[3]));
          auto out = static_cast<float*>(ptr(env, a[4]));
          int width = (int)a[5];
          prog->launches.push_back([=](cudaStream_t s) { launchAdd(s, rs, fixed, x, y, out, width, maxRows); });
          break;
        }
        case 9: {  // last_row
          auto x = static_cast<const float*>(ptr(env, a[2]));
          auto out = static_cast<float*>(ptr(env, a[3]));
          int width = (int)a[4];
          prog->launches.push_back([=](cudaStream_t s) { launchLastRow(s, rs, x, out, width); });
          break;
        }
        case 10: {  // argmax
          auto x = static_cast<const float*>(ptr(env, a[2]));
          auto out = static_cast<int32_t*>(ptr(env, a[3]));
          int width = (int)a[4];
          prog->launches.push_back([=](cudaStream_t s) { launchArgmax(s, rs, x, out, width); });
          break;
        }
        case 11: {  // sample
          auto logits = static_cast<const float*>(ptr(env, a[2]));
          auto hist = static_cast<const int32_t*>(ptr(env, a[3]));
          auto out = static_cast<int32_t*>(ptr(env, a[4]));
          int V = (int)a[5];
          void* scratch = ptr(env, a[6]);
          prog->launches.push_back([=](cudaStream_t s) { launchSample(s, rs, logits, hist, out, V, scratch); });
          break;
        }
        case 12: {  // exit_check
          auto x = static_cast<const float*>(ptr(env, a[2]));
          WeightRef norm = weight(env, a[3]);
          float eps = (float)a[4];
          WeightRef head = weight(env, a[5]);
          auto drafts = static_cast<const int32_t*>(ptr(env, a[6]));
          auto probs = static_cast<float*>(ptr(env, a[7]));
          auto active = static_cast<const int32_t*>(ptr(env, a[8]));
          WeightRef up = weight(env, a[9]), upBias = weight(env, a[10]), down = weight(env, a[11]), downBias = weight(env, a[12]);
          float threshold = (float)a[13];
          int layer = (int)a[14];
          auto logits = static_cast<float*>(ptr(env, a[15]));
          auto exit = static_cast<int32_t*>(ptr(env, a[16]));
          auto h = static_cast<float*>(ptr(env, a[17]));
          auto xperm = static_cast<float*>(ptr(env, a[18]));
          int k = (int)a[19], hidden = (int)a[20], dim = (int)a[21];
          int splits = splitsFor(head, 0);
          prog->launches.push_back([=](cudaStream_t s) {
            launchExitCheck(s, rs, x, dim, norm, eps, head, drafts, k, probs, active, layer, up, upBias, down, downBias, hidden, threshold, logits, exit, h,
                            xperm, splits);
          });
          break;
        }
        case 13: {  // guard_begin
          auto exit = static_cast<const int32_t*>(ptr(env, a[2]));
          int mode = (int)a[3], layer = (int)a[4];
          prog->launches.push_back([=](cudaStream_t s) { launchGuardBegin(s, rs, exit, mode, layer); });
          break;
        }
        case 14: {  // guard_end
          prog->launches.push_back([=](cudaStream_t s) { launchGuardEnd(s, rs); });
          break;
        }
        case 15: {  // exit_record
          auto exit = static_cast<const int32_t*>(ptr(env, a[2]));
          auto rec = static_cast<int32_t*>(ptr(env, a[3]));
          int lastLayer = (int)a[4], rows = (int)a[5];
          prog->launches.push_back([=](cudaStream_t s) { launchExitRecord(s, rs, exit, rec, lastLayer, rows); });
          break;
        }
        default:
          throw Napi::Error::New(env, "unknown op kind " + std::to_string(kind));
      }
    }
    if (useGraphs_) capture(env, *prog);
    const int id = nextId_++;
    programs_[id] = std::move(prog);
    return Napi::Number::New(env, id);
  }

  /** Records the program's launches into a CUDA graph once, on a stream of its own so a run in flight on stream_ is not disturbed. */
  void capture(Napi::Env env, Program& prog) {
    cudaGraph_t graph = nullptr;
    CK(env, cudaStreamBeginCapture(captureStream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    for (auto& l : prog.launches) l(captureStream_);
    cudaError_t launchErr = cudaGetLastError();
    cudaError_t e = cudaStreamEndCapture(captureStream_, &graph);
    if (launchErr != cudaSuccess) e = launchErr;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&prog.exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (e != cudaSuccess) throw cudaError(env, e, "capturing the program into a CUDA graph");
    prog.captured = true;
  }

  /** Split-K factor for a bx product: enough warps to fill the GPU (about 32 per SM) when rows are few. */
  int splitsFor(const WeightRef& w, int requested) {
    if (w.dtype != DT_BX) return 1;
    if (requested > 0) return requested;
    const int64_t want = (int64_t)sms_ * 32;
    int s = (int)((want + w.rows - 1) / w.rows);
    // Each split should still give every lane at least two slots of a row to work on.
    const int bySlots = (w.bx.n4 + w.bx.n23) / (2 * 32);
    if (s > bySlots) s = bySlots;
    return s < 1 ? 1 : s > 8 ? 8 : s;
  }

  static size_t align256(size_t x) { return (x + 255) / 256 * 256; }

  void ensurePinned(Napi::Env env, char** p, size_t* have, size_t need) {
    if (*have >= need) return;
    if (*p) cudaFreeHost(*p);
    *p = nullptr;
    *have = 0;
    size_t n = need < 65536 ? 65536 : need * 2;
    CK(env, cudaMallocHost((void**)p, n), "cudaMallocHost(staging)");
    *have = n;
  }

  /**
   * run(programId, Float64Array [pos, n, topK, historyLength, temperature,
   * topP, minP, penalty, uniform], inputs [[id, TypedArray], ...], outputs
   * [[id, bytes], ...]) -> Promise<{ error: [code, arg, row], outputs: ArrayBuffer[] }>.
   * Inputs go through pinned staging; the graph replays; the run state and
   * every output come back in one pinned buffer and one synchronisation.
   */
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    auto it = programs_.find(info[0].As<Napi::Number>().Int32Value());
    if (it == programs_.end()) throw Napi::Error::New(env, "unknown program");
    Program& prog = *it->second;
    Napi::Float64Array sc = info[1].As<Napi::Float64Array>();
    const double* v = sc.Data();
    RunState st{};
    st.pos = (int32_t)v[0];
    st.n = (int32_t)v[1];
    st.topK = (int32_t)v[2];
    st.historyLength = (int32_t)v[3];
    st.temperature = v[4];
    st.topP = v[5];
    st.minP = v[6];
    st.penalty = v[7];
    st.uniform = v[8];
    *rsHost_ = st;
    Napi::Array inputs = info[2].As<Napi::Array>();
    Napi::Array outputs = info[3].As<Napi::Array>();
    // Stage inputs.
    size_t inBytes = 0;
    for (uint32_t i = 0; i < inputs.Length(); i++) inBytes += align256(inputs.Get(i).As<Napi::Array>().Get(1u).As<Napi::TypedArray>().ByteLength());
    ensurePinned(env, &stageIn_, &stageInBytes_, inBytes);
    size_t off = 0;
    CK(env, cudaMemcpyAsync(rs_, rsHost_, sizeof(RunState), cudaMemcpyHostToDevice, stream_), "upload run state");
    for (uint32_t i = 0; i < inputs.Length(); i++) {
      Napi::Array pair = inputs.Get(i).As<Napi::Array>();
      Alloc& a = get(env, pair.Get(0u).As<Napi::Number>().Int32Value());
      Napi::TypedArray arr = pair.Get(1u).As<Napi::TypedArray>();
      const size_t bytes = arr.ByteLength();
      if (bytes > a.bytes) throw Napi::Error::New(env, "input larger than its device buffer");
      memcpy(stageIn_ + off, static_cast<const char*>(arr.ArrayBuffer().Data()) + arr.ByteOffset(), bytes);
      CK(env, cudaMemcpyAsync(a.ptr, stageIn_ + off, bytes, cudaMemcpyHostToDevice, stream_), "upload input");
      off += align256(bytes);
    }
    // Execute: replay the graph captured at compile time.
    if (prog.captured) {
      CK(env, cudaGraphLaunch(prog.exec, stream_), "cudaGraphLaunch");
    } else {
      for (auto& l : prog.launches) l(stream_);
      CK(env, cudaGetLastError(), "kernel launch");
    }
    // One readback: run state (error fields) + every output, into one pinned buffer.
    std::vector<size_t> sizes;
    size_t outBytes = align256(sizeof(RunState));
    for (uint32_t i = 0; i < outputs.Length(); i++) {
      size_t b = (size_t)outputs.Get(i).As<Napi::Array>().Get(1u).As<Napi::Number>().DoubleValue();
      sizes.push_back(b);
      outBytes += align256(b);
    }
    ensurePinned(env, &stageOut_, &stageOutBytes_, outBytes);
    CK(env, cudaMemcpyAsync(stageOut_, rs_, sizeof(RunState), cudaMemcpyDeviceToHost, stream_), "read run state");
    off = align256(sizeof(RunState));
    std::vector<size_t> offs;
    for (uint32_t i = 0; i < outputs.Length(); i++) {
      Alloc& a = get(env, outputs.Get(i).As<Napi::Array>().Get(0u).As<Napi::Number>().Int32Value());
      if (sizes[i] > a.bytes) throw Napi::Error::New(env, "output larger than its device buffer");
      CK(env, cudaMemcpyAsync(stageOut_ + off, a.ptr, sizes[i], cudaMemcpyDeviceToHost, stream_), "read output");
      offs.push_back(off);
      off += align256(sizes[i]);
    }
    cudaStream_t s = stream_;
    const char* out = stageOut_;
    auto* job = new Job(
        env, device_, [s]() { return cudaStreamSynchronize(s); },
        [out, sizes, offs](Napi::Env e) {
          Napi::Object r = Napi::Object::New(e);
          const RunState* back = reinterpret_cast<const RunState*>(out);
          Napi::Array err = Napi::Array::New(e, 3);
          err.Set(0u, back->error);
          err.Set(1u, back->errorArg);
          err.Set(2u, back->errorRow);
          r.Set("error", err);
          Napi::Array arr = Napi::Array::New(e, sizes.size());
          for (size_t i = 0; i < sizes.size(); i++) {
            Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(e, sizes[i]);
            memcpy(ab.Data(), out + offs[i], sizes[i]);
            arr.Set((uint32_t)i, ab);
          }
          r.Set("outputs", arr);
          return r;
        },
        "program run");
    job->Queue();
    return job->Promise();
  }

  Napi::Value ReleaseProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    auto it = programs_.find(info[0].As<Napi::Number>().Int32Value());
    if (it != programs_.end()) {
      cudaStreamSynchronize(stream_);
      if (it->second->exec) cudaGraphExecDestroy(it->second->exec);
      programs_.erase(it);
    }
    return env.Undefined();
  }

  Napi::Value MemInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    size_t fr = 0, total = 0;
    CK(env, cudaMemGetInfo(&fr, &total), "cudaMemGetInfo");
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, (double)fr);
    r.Set(1u, (double)total);
    return r;
  }

  /**
   * benchMatvec(weightId, xId, outId, xpermId, rows, iters, splits) ->
   * Promise<milliseconds per product>, timed with events around `iters`
   * launches captured in one graph (launch overhead excluded as in decode).
   */
  Napi::Value BenchMatvec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    WeightRef w = weight(env, info[0].As<Napi::Number>().DoubleValue());
    auto x = static_cast<const float*>(ptr(env, info[1].As<Napi::Number>().DoubleValue()));
    auto out = static_cast<float*>(ptr(env, info[2].As<Napi::Number>().DoubleValue()));
    auto xperm = static_cast<float*>(ptr(env, info[3].As<Napi::Number>().DoubleValue()));
    const int rows = info[4].As<Napi::Number>().Int32Value();
    const int iters = info[5].As<Napi::Number>().Int32Value();
    const int splits = splitsFor(w, info[6].As<Napi::Number>().Int32Value());
    RunState st{};
    st.n = rows;
    *rsHost_ = st;
    CK(env, cudaMemcpyAsync(rs_, rsHost_, sizeof(RunState), cudaMemcpyHostToDevice, stream_), "upload run state");
    RunState* rs = rs_;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CK(env, cudaStreamBeginCapture(captureStream_, cudaStreamCaptureModeThreadLocal), "capture");
    for (int i = 0; i < iters; i++) launchBenchMatvec(captureStream_, rs, x, w, out, rows, xperm, splits);
    CK(env, cudaStreamEndCapture(captureStream_, &graph), "end capture");
    cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) throw cudaError(env, e, "instantiate");
    return timed(env, exec, iters, "benchMatvec");
  }

  /** benchCopy(bytes, iters) -> Promise<ms per copy> of a device-to-device cudaMemcpy (read + write of `bytes`). */
  Napi::Value BenchCopy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    const size_t bytes = (size_t)info[0].As<Napi::Number>().DoubleValue();
    const int iters = info[1].As<Napi::Number>().Int32Value();
    void *a = nullptr, *b = nullptr;
    CK(env, cudaMalloc(&a, bytes), "cudaMalloc(copy source)");
    cudaError_t e = cudaMalloc(&b, bytes);
    if (e != cudaSuccess) {
      cudaFree(a);
      throw cudaError(env, e, "cudaMalloc(copy target)");
    }
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CK(env, cudaStreamBeginCapture(captureStream_, cudaStreamCaptureModeThreadLocal), "capture");
    for (int i = 0; i < iters; i++) cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, captureStream_);
    CK(env, cudaStreamEndCapture(captureStream_, &graph), "end capture");
    e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) throw cudaError(env, e, "instantiate");
    Napi::Value p = timed(env, exec, iters, "benchCopy", [a, b]() {
      cudaFree(a);
      cudaFree(b);
    });
    return p;
  }

  Napi::Value timed(Napi::Env env, cudaGraphExec_t exec, int iters, const char* what, std::function<void()> after = nullptr) {
    cudaStream_t s = stream_;
    auto ms = std::make_shared<float>(0.f);
    auto* job = new Job(
        env, device_,
        [=]() {
          cudaEvent_t e0, e1;
          cudaEventCreate(&e0);
          cudaEventCreate(&e1);
          cudaError_t e = cudaGraphLaunch(exec, s);  // warm-up
          if (e == cudaSuccess) e = cudaEventRecord(e0, s);
          if (e == cudaSuccess) e = cudaGraphLaunch(exec, s);
          if (e == cudaSuccess) e = cudaEventRecord(e1, s);
          if (e == cudaSuccess) e = cudaEventSynchronize(e1);
          if (e == cudaSuccess) e = cudaEventElapsedTime(ms.get(), e0, e1);
          cudaEventDestroy(e0);
          cudaEventDestroy(e1);
          cudaGraphExecDestroy(exec);
          if (after) after();
          return e;
        },
        [ms, iters](Napi::Env e) { return Napi::Number::New(e, *ms / iters); }, what);
    job->Queue();
    return job->Promise();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("Context", Context::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(bitexit_cuda, Init)
