// EXPERIMENT (not committed): can the dequantization of layer i+1 hide behind layer i's GEMM
// when it runs on a second stream into the other half of the workspace?
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

#include "kernels/cuda/dequantize.cuh"
#include "kernels/ggml_types.h"

using namespace ovid;

#define CK(x)                                                                   \
  do {                                                                          \
    cudaError_t e_ = (x);                                                       \
    if (e_ != cudaSuccess) {                                                    \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                             \
    }                                                                           \
  } while (0)

struct Layer {
  GgmlType type;
  int64_t n, k;
  void* q = nullptr;    // quantized blocks
  void* bf = nullptr;   // resident bf16 weight (baseline)
  size_t bf_bytes() const { return size_t(n * k * 2); }
};

size_t RowBytes(GgmlType t, int64_t k) {
  if (t == GgmlType::kQ4_K) return size_t(k / 256 * 144);
  if (t == GgmlType::kQ6_K) return size_t(k / 256 * 210);
  std::exit(2);
}

void Fill(Layer& l, std::mt19937& rng) {
  const size_t bytes = RowBytes(l.type, l.k) * l.n;
  std::vector<uint8_t> h(bytes);
  for (auto& b : h) b = uint8_t(rng());
  const size_t bs = l.type == GgmlType::kQ4_K ? 144 : 210;
  for (size_t o = 0; o < bytes; o += bs) {
    // fp16 0.01 (0x211F) for d (and dmin): finite, small values.
    const size_t d_off = l.type == GgmlType::kQ4_K ? 0 : 208;
    h[o + d_off] = 0x1F;
    h[o + d_off + 1] = 0x21;
    if (l.type == GgmlType::kQ4_K) {
      h[o + 2] = 0x1F;
      h[o + 3] = 0x21;
    }
  }
  CK(cudaMalloc(&l.q, bytes));
  CK(cudaMemcpy(l.q, h.data(), bytes, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&l.bf, l.bf_bytes()));
  CK(DequantizeCuda(l.type, l.q, l.bf, FloatFormat::kBF16, l.n, l.k, 0));
}

cublasHandle_t blas;
void Gemm(cudaStream_t s, const void* w, const void* x, void* y, int64_t m, int64_t n, int64_t k) {
  const float a = 1, b = 0;
  cublasSetStream(blas, s);
  if (cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &a, w, CUDA_R_16BF,
                   int(k), x, CUDA_R_16BF, int(k), &b, y, CUDA_R_16BF, int(n), CUBLAS_COMPUTE_32F,
                   CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
    std::printf("gemm failed\n");
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 15004;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21;
  cublasCreate(&blas);
  std::mt19937 rng(1);
  // One video block's layers at m tokens, in forward order (Q4_K_M: v and ffn.2 Q6_K).
  std::vector<Layer> L = {
      {GgmlType::kQ4_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ6_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ4_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ4_K, 14336, 3072}, {GgmlType::kQ6_K, 3072, 14336}};
  for (auto& l : L) Fill(l, rng);
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
    for (auto& l : L) Gemm(s, l.bf, x, y, m, l.n, l.k);
  };
  auto chain_serial = [&](cudaStream_t s) {
    for (auto& l : L) {
      CK(DequantizeCuda(l.type, l.q, ws[0], FloatFormat::kBF16, l.n, l.k, s,
                        DequantCaching::kKeepInL2));
      Gemm(s, ws[0], x, y, m, l.n, l.k);
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
      Gemm(a, dst[i], x, y, m, L[i].n, L[i].k);
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
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  std::vector<std::vector<float>> ms(modes.size());
  for (int r = 0; r < rounds + 2; ++r) {
    for (size_t mi = 0; mi < modes.size(); ++mi) {
      // every mode's first stream: record on it
      cudaStream_t s = mi == 3 || mi == 5 ? sa_hi : sa;
      CK(cudaDeviceSynchronize());
      CK(cudaEventRecord(t0, s));
      for (int rep = 0; rep < 3; ++rep) modes[mi].run();
      CK(cudaEventRecord(t1, s));
      CK(cudaEventSynchronize(t1));
      float t = 0;
      CK(cudaEventElapsedTime(&t, t0, t1));
      if (r >= 2) ms[mi].push_back(t / 3);
    }
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, M = %lld, %d rounds, one video block's 8 layers at M (6x[3072,3072], ffn pair)\n",
              prop.name, (long long)m, rounds);
  std::sort(ms[0].begin(), ms[0].end());
  const double base = ms[0][ms[0].size() / 2];
  for (size_t mi = 0; mi < modes.size(); ++mi) {
    std::sort(ms[mi].begin(), ms[mi].end());
    const double med = ms[mi][ms[mi].size() / 2];
    std::printf("%-24s median %8.1f us  (min %8.1f)  ratio to bf16 %.4f\n", modes[mi].name.c_str(),
                med * 1000, ms[mi][0] * 1000, med / base);
  }
  return 0;
}
