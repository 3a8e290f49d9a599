// Host-only check of src/native/bx.h (compiled with g++, no GPU): decodes
// every bx test vector of packages/format/test-vectors/bx with the same
// functions the CUDA kernels use and compares all weights bit for bit with
// dequantizedF32Hex. Also checks the kernels' per-group factorisation
// s·(Σq·x − z·Σx) + Σ outliers against the exact matrix. Usage: bx_host_test DIR NAME...
#include "../../src/native/bx.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    fprintf(stderr, "cannot read %s\n", path.c_str());
    exit(2);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The expected bits: every 8-hex-digit string after "dequantizedF32Hex".
static std::vector<uint32_t> expectedBits(const std::string& json) {
  std::vector<uint32_t> out;
  size_t p = json.find("\"dequantizedF32Hex\"");
  if (p == std::string::npos) return out;
  p = json.find('[', p);
  size_t end = json.find(']', p);
  while (true) {
    size_t q = json.find('"', p);
    if (q == std::string::npos || q > end) break;
    size_t q2 = json.find('"', q + 1);
    out.push_back((uint32_t)strtoul(json.substr(q + 1, q2 - q - 1).c_str(), nullptr, 16));
    p = q2 + 1;
  }
  return out;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR NAME...\n", argv[0]);
    return 2;
  }
  int failures = 0, passed = 0;
  for (int a = 2; a < argc; a++) {
    std::string name = argv[a];
    std::string blob = slurp(std::string(argv[1]) + "/" + name + ".bin");
    std::vector<uint32_t> want = expectedBits(slurp(std::string(argv[1]) + "/" + name + ".json"));
    // Word-aligned copy with slack, like the device allocation.
    std::vector<uint32_t> words(blob.size() / 4 + 16, 0);
    memcpy(words.data(), blob.data(), blob.size());
    const uint8_t* bytes = (const uint8_t*)words.data();
    BxLayout L{};
    std::vector<uint32_t> widths(1 << 20);
    const char* err = bxLayout(bytes, blob.size(), &L, widths.data(), 1 << 20);
    if (err) {
      printf("FAIL %s: layout: %s\n", name.c_str(), err);
      failures++;
      continue;
    }
    std::vector<uint32_t> gSlot(L.nG), gSlot1(L.nG), gZoff(L.nG), s4(L.n4 + 1), s2(L.n2 + L.n3 + 1), s1(L.n3 + 1);
    bxTables(L, widths.data(), gSlot.data(), gSlot1.data(), gZoff.data(), s4.data(), s2.data(), s1.data());
    BxDev d{};
    d.p4 = (const uint32_t*)(bytes + L.o4);
    d.p2 = (const uint32_t*)(bytes + L.o2);
    d.p1 = (const uint32_t*)(bytes + L.o1);
    d.meta = (const uint32_t*)(bytes + L.oM);
    d.so = (L.flags & 1) ? (const uint32_t*)(bytes + L.oS) : nullptr;
    d.outl = L.C ? (const uint32_t*)(bytes + L.oO) : nullptr;
    d.gWidth = widths.data();
    d.gSlot = gSlot.data();
    d.gSlot1 = gSlot1.data();
    d.gZoff = gZoff.data();
    d.s4Group = s4.data();
    d.s2Group = s2.data();
    d.s1Group = s1.data();
    d.n4 = L.n4, d.n23 = L.n2 + L.n3, d.n3 = L.n3;
    d.vec4 = L.W4 % 4 == 0, d.vec2 = L.W2 % 4 == 0, d.vec1 = L.W1 % 4 == 0;
    d.full = L.K % L.G == 0;
    d.N = L.N, d.K = L.K, d.G = L.G, d.nG = L.nG;
    d.W4 = L.W4, d.W2 = L.W2, d.W1 = L.W1;
    d.F = L.F, d.secondOrder = L.flags & 1, d.SR = L.SR, d.SG = L.SG, d.tileCols = L.tileCols, d.C = L.C, d.M = L.M;
    if (want.size() != (size_t)L.N * L.K) {
      printf("FAIL %s: %zu expected weights for %ux%u\n", name.c_str(), want.size(), L.N, L.K);
      failures++;
      continue;
    }
    size_t bad = 0;
    for (uint32_t r = 0; r < L.N; r++)
      for (uint32_t c = 0; c < L.K; c++) {
        float w = bxWeight(d, r, c);
        uint32_t bits;
        memcpy(&bits, &w, 4);
        if (bits != want[(size_t)r * L.K + c]) {
          if (bad < 5) printf("  %s: W[%u,%u] = %08x, want %08x\n", name.c_str(), r, c, bits, want[(size_t)r * L.K + c]);
          bad++;
        }
      }
    // The kernels' factorised dot product vs the exact matrix on a fixed x.
    double worst = 0;
    for (uint32_t r = 0; r < L.N; r++) {
      double exact = 0, fact = 0;
      for (uint32_t c = 0; c < L.K; c++) {
        float x = (float)((int)((c * 37 + r * 11) % 17) - 8) / 8.0f;
        float w;
        memcpy(&w, &want[(size_t)r * L.K + c], 4);
        exact += (double)w * x;
      }
      for (uint32_t g = 0; g < L.nG; g++) {
        double sq = 0, sx = 0;
        for (uint32_t c = g * L.G; c < std::min<uint32_t>((g + 1) * L.G, L.K); c++) {
          float x = (float)((int)((c * 37 + r * 11) % 17) - 8) / 8.0f;
          sq += (double)bxCode(d, r, c) * x;
          sx += x;
        }
        fact += (double)bxScale(d, r, g) * (sq - (double)bxZero(d, r, g) * sx);
      }
      for (int j = 0; j < d.C; j++) {
        uint32_t e = d.outl[r * d.C + j];
        uint32_t c = e & 0xffffu;
        float x = (float)((int)((c * 37 + r * 11) % 17) - 8) / 8.0f;
        fact += (double)bxHalfToFloat(e >> 16) * x;  // an empty slot adds 0·x[0]
      }
      double diff = fabs(exact - fact) / (1e-6 + fabs(exact));
      if (diff > worst) worst = diff;
      // The kernel's own loop structure (bxRowDot), with its vector paths when the matrix allows them.
      std::vector<float> xs(L.K + 64, 0.f);
      for (uint32_t c = 0; c < L.K; c++) xs[c] = (float)((int)((c * 37 + r * 11) % 17) - 8) / 8.0f;
      float k = 0;
      bool full = L.K % L.G == 0;
      if (L.G == 32) k = full ? bxRowDot<32, true>(d, r, xs.data()) : bxRowDot<32, false>(d, r, xs.data());
      if (L.G == 64) k = full ? bxRowDot<64, true>(d, r, xs.data()) : bxRowDot<64, false>(d, r, xs.data());
      if (L.G == 128) k = full ? bxRowDot<128, true>(d, r, xs.data()) : bxRowDot<128, false>(d, r, xs.data());
      diff = fabs(exact - k) / (1e-4 + fabs(exact));
      if (diff > worst) worst = diff;
    }
    if (bad || worst > 1e-4) {
      printf("FAIL %s: %zu of %zu weights differ; factorised dot product relative error %.3g\n", name.c_str(), bad, want.size(), worst);
      failures++;
    } else {
      printf("ok   %s: %ux%u G=%u widths 2/3/4 = %u/%u/%u, C=%u, second order %u: all %zu weights bit-exact, kernel row dot (bxRowDot) ok\n",
             name.c_str(), L.N, L.K, L.G, L.n2, L.n3, L.n4, L.C, L.flags & 1, want.size());
      passed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failures);
  return failures ? 1 : 0;
}
