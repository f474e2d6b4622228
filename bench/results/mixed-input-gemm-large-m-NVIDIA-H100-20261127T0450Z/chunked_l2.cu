// EXPERIMENT (not in the tree): at large M, does dequantizing the weight in row chunks that a
// GEMM reads while they are still in L2 cost less than dequantizing the whole weight first?
// Chain of one video block's 8 large-M layers, 21 interleaved rounds, medians.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "block_chain_common.cuh"

using namespace ovid;


// Row chunks of at most `budget` bf16 bytes, rows a multiple of 64, balanced.
std::vector<std::pair<int64_t, int64_t>> Chunks(const Layer& l, double budget) {
  int64_t rows = int64_t(budget / double(l.k * 2)) / 64 * 64;
  rows = std::max<int64_t>(64, rows);
  const int64_t count = (l.n + rows - 1) / rows;
  int64_t per = ((l.n + count - 1) / count + 63) / 64 * 64;
  std::vector<std::pair<int64_t, int64_t>> c;
  for (int64_t r = 0; r < l.n; r += per) c.push_back({r, std::min(per, l.n - r)});
  return c;
}

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 15004;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21;
  std::mt19937 rng(1);
  std::vector<Layer> L = VideoBlockChain(rng);
  void *x, *y, *y2;
  const size_t xbytes = size_t(m) * 14336 * 2;
  CK(cudaMalloc(&x, xbytes));
  CK(cudaMalloc(&y, xbytes));
  CK(cudaMalloc(&y2, xbytes));
  RandomBf16(x, xbytes / 2, rng);
  const size_t big = size_t(14336) * 3072 * 2;
  void* ws;
  CK(cudaMalloc(&ws, big));
  cudaStream_t sg[2], sd;
  CK(cudaStreamCreateWithFlags(&sg[0], cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&sg[1], cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&sd, cudaStreamNonBlocking));
  std::vector<cudaEvent_t> ev(512);
  for (auto& e : ev) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));

  auto dq = [&](const Layer& l, int64_t r0, int64_t rows, void* dst, cudaStream_t s,
                DequantCaching c) {
    const uint8_t* src = static_cast<const uint8_t*>(l.q) + size_t(r0) * RowBytes(l.type, l.k);
    CK(DequantizeCuda(l.type, src, dst, FloatFormat::kBF16, rows, l.k, s, c));
  };
  auto run_bf16 = [&](size_t li, void* out) {
    Cublas(sg[0], L[li].bf, x, out, m, L[li].n, L[li].k, L[li].n);
  };
  auto run_serial = [&](size_t li, void* out, DequantCaching c) {
    dq(L[li], 0, L[li].n, ws, sg[0], c);
    Cublas(sg[0], ws, x, out, m, L[li].n, L[li].k, L[li].n);
  };
  // One stream: dequant chunk j into slot j % slots, GEMM chunk j.
  auto run_chunked = [&](size_t li, void* out, double budget, int slots) {
    const Layer& l = L[li];
    auto ch = Chunks(l, budget);
    const size_t slot_bytes = size_t(ch[0].second * l.k * 2);
    for (size_t j = 0; j < ch.size(); ++j) {
      uint8_t* dst = static_cast<uint8_t*>(ws) + (j % slots) * slot_bytes;
      dq(l, ch[j].first, ch[j].second, dst, sg[0], DequantCaching::kKeepInL2);
      Cublas(sg[0], dst, x, static_cast<uint16_t*>(out) + ch[j].first, m, ch[j].second, l.k, l.n);
    }
  };
  // Pipelined: dequant on sd ahead of the GEMMs (slots ring), GEMMs on sg[0] (or alternating
  // sg[0]/sg[1]); the layer ends with both GEMM streams joined into sg[0] (data dependency of
  // the next layer) and sd waiting for sg[0] (the next layer's first dequant may not start
  // before ... nothing: its slot is free once the GEMMs that read it are done).
  auto run_pipe = [&](size_t li, void* out, double budget, int slots, bool two_gemm_streams) {
    const Layer& l = L[li];
    auto ch = Chunks(l, budget);
    const size_t slot_bytes = size_t(ch[0].second * l.k * 2);
    if (size_t(slots) * slot_bytes > big) slots = int(big / slot_bytes);
    int e = 0;
    cudaEvent_t start = ev[e++];
    CK(cudaEventRecord(start, sg[0]));
    CK(cudaStreamWaitEvent(sd, start));
    if (two_gemm_streams) CK(cudaStreamWaitEvent(sg[1], start));
    std::vector<cudaEvent_t> dq_done(ch.size()), g_done(ch.size());
    for (size_t j = 0; j < ch.size(); ++j) {
      if (j >= size_t(slots)) CK(cudaStreamWaitEvent(sd, g_done[j - slots]));
      uint8_t* dst = static_cast<uint8_t*>(ws) + (j % slots) * slot_bytes;
      dq(l, ch[j].first, ch[j].second, dst, sd, DequantCaching::kKeepInL2);
      dq_done[j] = ev[e++];
      CK(cudaEventRecord(dq_done[j], sd));
      cudaStream_t g = two_gemm_streams ? sg[j & 1] : sg[0];
      CK(cudaStreamWaitEvent(g, dq_done[j]));
      Cublas(g, dst, x, static_cast<uint16_t*>(out) + ch[j].first, m, ch[j].second, l.k, l.n);
      g_done[j] = ev[e++];
      CK(cudaEventRecord(g_done[j], g));
    }
    if (two_gemm_streams) {
      cudaEvent_t j1 = ev[e++];
      CK(cudaEventRecord(j1, sg[1]));
      CK(cudaStreamWaitEvent(sg[0], j1));
    }
    cudaEvent_t fin = ev[e++];
    CK(cudaEventRecord(fin, sg[0]));
    CK(cudaStreamWaitEvent(sd, fin));
  };

  struct Mode {
    std::string name;
    std::function<void(size_t, void*)> run;
  };
  std::vector<Mode> modes = {
      {"bf16", [&](size_t i, void* o) { run_bf16(i, o); }},
      {"lazy serial keepL2", [&](size_t i, void* o) { run_serial(i, o, DequantCaching::kKeepInL2); }},
      {"lazy serial stream", [&](size_t i, void* o) { run_serial(i, o, DequantCaching::kStream); }},
  };
  for (double mb : {2.5, 5.0, 10.0}) {
    for (int slots : {1, 2}) {
      char nm[64];
      std::snprintf(nm, sizeof nm, "chunk %.1fMB slots %d", mb, slots);
      modes.push_back({nm, [&, mb, slots](size_t i, void* o) { run_chunked(i, o, mb * 1e6, slots); }});
    }
    for (int two : {0, 1}) {
      char nm[64];
      std::snprintf(nm, sizeof nm, "pipe %.1fMB 3 slots %s", mb, two ? "2 gemm streams" : "1 gemm stream");
      modes.push_back({nm, [&, mb, two](size_t i, void* o) { run_pipe(i, o, mb * 1e6, 3, two != 0); }});
    }
  }
  // Bit check: every mode's output for each layer equals the serial one.
  for (size_t li : {size_t(0), size_t(2), size_t(6), size_t(7)}) {
    const size_t yb = size_t(m) * L[li].n * 2;
    run_serial(li, y, DequantCaching::kKeepInL2);
    CK(cudaDeviceSynchronize());
    std::vector<uint8_t> ref(yb), got(yb);
    CK(cudaMemcpy(ref.data(), y, yb, cudaMemcpyDeviceToHost));
    for (size_t mi = 0; mi < modes.size(); ++mi) {
      CK(cudaMemset(y2, 0xFF, yb));
      CK(cudaDeviceSynchronize());
      modes[mi].run(li, y2);
      CK(cudaDeviceSynchronize());
      CK(cudaMemcpy(got.data(), y2, yb, cudaMemcpyDeviceToHost));
      size_t diff = 0;
      for (size_t b = 0; b < yb; b += 2) diff += std::memcmp(&ref[b], &got[b], 2) != 0;
      if (diff) std::printf("layer %zu [%lld,%lld] mode %s: %zu of %zu outputs differ\n", li,
                            (long long)L[li].n, (long long)L[li].k, modes[mi].name.c_str(), diff,
                            yb / 2);
    }
  }
  std::printf("bit check done\n");
  for (size_t li : {size_t(0), size_t(6), size_t(7)}) {
    std::printf("chunks of layer [%lld,%lld]:", (long long)L[li].n, (long long)L[li].k);
    for (double mb : {2.5, 5.0, 10.0}) std::printf(" %.1fMB->%zu", mb, Chunks(L[li], mb * 1e6).size());
    std::printf("\n");
  }

  std::vector<std::vector<float>> ms =
      ChainRounds(modes.size(), rounds, 3, [&](size_t) { return sg[0]; }, [&](size_t mi) {
        for (int rep = 0; rep < 3; ++rep)
          for (size_t li = 0; li < L.size(); ++li) modes[mi].run(li, y);
      });
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, M = %lld, %d rounds, chain of one video block's 8 layers at M\n", prop.name,
              (long long)m, rounds);
  std::vector<std::string> names;
  for (const auto& md : modes) names.push_back(md.name);
  PrintChainMedians(names, ms, 34);
  return 0;
}
