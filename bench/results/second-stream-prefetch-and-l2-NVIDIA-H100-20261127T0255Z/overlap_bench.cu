// EXPERIMENT (not committed): can the dequantization of layer i+1 hide behind layer i's GEMM
// when it runs on a second stream into the other half of the workspace?
// (Tenth session: the layer set-up, the cuBLAS call and the timing loop now come from the shared
// headers of ../mixed-input-gemm-large-m-NVIDIA-H100-20261127T0450Z/, which were written from
// this file; build with -I that folder. Not re-run since.)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "block_chain_common.cuh"

using namespace ovid;

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 15004;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21;
  std::mt19937 rng(1);
  std::vector<Layer> L = VideoBlockChain(rng);
  void *x, *y;
  CK(cudaMalloc(&x, size_t(m) * 14336 * 2));
  CK(cudaMalloc(&y, size_t(m) * 14336 * 2));
  CK(cudaMemset(x, 0, size_t(m) * 14336 * 2));
  const size_t big = size_t(14336) * 3072 * 2;
  void* ws[2];
  CK(cudaMalloc(&ws[0], big));
  CK(cudaMalloc(&ws[1], big));
  int lo, hi;
  CK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
  cudaStream_t sa, sb_norm, sb_low, sa_hi;
  CK(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithPriority(&sa_hi, cudaStreamNonBlocking, hi));
  CK(cudaStreamCreateWithFlags(&sb_norm, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithPriority(&sb_low, cudaStreamNonBlocking, lo));
  std::vector<cudaEvent_t> ev_gemm(L.size()), ev_dq(L.size());
  for (auto& e : ev_gemm) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  for (auto& e : ev_dq) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));

  // Where layer i's dequantized copy goes: `first` layers of the chain, in a buffer plan.
  // plan 0: single 88 MB buffer; 3072^2 layers alternate between [0,18.9MB) and [18.9,37.7MB);
  //         the big layers take the whole buffer.
  // plan 1: two 88 MB buffers, alternating.
  auto slot = [&](int plan, size_t i, int* buf_id) -> void* {
    if (plan == 1) {
      *buf_id = int(i & 1);
      return ws[i & 1];
    }
    const bool small = L[i].n * L[i].k == 3072 * 3072;
    *buf_id = small ? int(i & 1) : 2;  // 2 = whole buffer
    return small ? static_cast<uint8_t*>(ws[0]) + (i & 1) * size_t(3072 * 3072 * 2) : ws[0];
  };
  auto overlaps = [](int a, int b) { return a == 2 || b == 2 || a == b; };

  struct Mode {
    std::string name;
    std::function<void()> run;
  };
  auto chain_bf16 = [&](cudaStream_t s) {
    for (auto& l : L) Cublas(s, l.bf, x, y, m, l.n, l.k);
  };
  auto chain_serial = [&](cudaStream_t s) {
    for (auto& l : L) {
      CK(DequantizeCuda(l.type, l.q, ws[0], FloatFormat::kBF16, l.n, l.k, s,
                        DequantCaching::kKeepInL2));
      Cublas(s, ws[0], x, y, m, l.n, l.k);
    }
  };
  // Prefetch: dequant i on stream b once every earlier GEMM reading an overlapping region is
  // done; GEMM i on stream a after dequant i.
  auto chain_prefetch = [&](cudaStream_t a, cudaStream_t b, int plan) {
    std::vector<int> ids(L.size());
    std::vector<void*> dst(L.size());
    for (size_t i = 0; i < L.size(); ++i) dst[i] = slot(plan, i, &ids[i]);
    // stream b must start after whatever a did before this chain.
    cudaEvent_t start;
    CK(cudaEventCreateWithFlags(&start, cudaEventDisableTiming));
    CK(cudaEventRecord(start, a));
    CK(cudaStreamWaitEvent(b, start));
    size_t next_dq = 0;
    auto issue_dq = [&](size_t j) {
      // wait for the latest earlier GEMM that read an overlapping slot
      for (size_t p = j; p-- > 0;) {
        if (overlaps(ids[p], ids[j])) {
          CK(cudaStreamWaitEvent(b, ev_gemm[p]));
          break;
        }
      }
      CK(DequantizeCuda(L[j].type, L[j].q, dst[j], FloatFormat::kBF16, L[j].n, L[j].k, b,
                        DequantCaching::kKeepInL2));
      CK(cudaEventRecord(ev_dq[j], b));
    };
    for (size_t i = 0; i < L.size(); ++i) {
      // Enqueue dequant for i and for i+1 (prefetch) before GEMM i
      while (next_dq <= std::min(i + 1, L.size() - 1)) issue_dq(next_dq++);
      CK(cudaStreamWaitEvent(a, ev_dq[i]));
      Cublas(a, dst[i], x, y, m, L[i].n, L[i].k);
      CK(cudaEventRecord(ev_gemm[i], a));
    }
    CK(cudaEventDestroy(start));
  };
  std::vector<Mode> modes = {
      {"bf16", [&] { chain_bf16(sa); }},
      {"lazy serial", [&] { chain_serial(sa); }},
      {"prefetch 1buf normal", [&] { chain_prefetch(sa, sb_norm, 0); }},
      {"prefetch 1buf low-prio", [&] { chain_prefetch(sa_hi, sb_low, 0); }},
      {"prefetch 2buf normal", [&] { chain_prefetch(sa, sb_norm, 1); }},
      {"prefetch 2buf low-prio", [&] { chain_prefetch(sa_hi, sb_low, 1); }},
  };
  // every mode's first stream: record on it
  std::vector<std::vector<float>> ms = ChainRounds(
      modes.size(), rounds, 3, [&](size_t mi) { return mi == 3 || mi == 5 ? sa_hi : sa; },
      [&](size_t mi) {
        for (int rep = 0; rep < 3; ++rep) modes[mi].run();
      });
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, M = %lld, %d rounds, one video block's 8 layers at M (6x[3072,3072], ffn pair)\n",
              prop.name, (long long)m, rounds);
  std::vector<std::string> names;
  for (const auto& md : modes) names.push_back(md.name);
  PrintChainMedians(names, ms, 24);
  return 0;
}
