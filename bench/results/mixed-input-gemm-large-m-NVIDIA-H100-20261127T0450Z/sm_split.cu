// EXPERIMENT (not in the tree): at large M, run the layer's GEMM on 132 - s SMs (cuBLASLt's
// SM count target) and dequantize the next layer on the other s SMs at the same time.
// Needs sm-split-dequant-max-sms.patch (a max_sms argument for DequantizeCuda) applied.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "block_chain_common.cuh"

using namespace ovid;

#define LK(x)                                                              \
  do {                                                                     \
    cublasStatus_t s_ = (x);                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                     \
      std::printf("%s:%d %s: cublas status %d\n", __FILE__, __LINE__, #x, int(s_)); \
      std::exit(1);                                                        \
    }                                                                      \
  } while (0)

cublasLtHandle_t lt;
void* lt_ws;
const size_t kLtWs = 32 << 20;
struct LtPlan {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, c;
  cublasLtMatmulAlgo_t algo;
  int algo_id, tile;
};
std::map<std::tuple<int64_t, int64_t, int64_t, int>, LtPlan> plans;
LtPlan& Plan(int64_t m, int64_t n, int64_t k, int sm_target) {
  auto key = std::make_tuple(m, n, k, sm_target);
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  LtPlan p{};
  LK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  if (sm_target > 0) {
    int32_t t = sm_target;
    LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &t, sizeof t));
  }
  LK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k));
  LK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, k, m, k));
  LK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, n, m, n));
  cublasLtMatmulPreference_t pref;
  LK(cublasLtMatmulPreferenceCreate(&pref));
  size_t wsb = kLtWs;
  LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                          sizeof wsb));
  cublasLtMatmulHeuristicResult_t res{};
  int count = 0;
  LK(cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.a, p.b, p.c, p.c, pref, 1, &res, &count));
  if (count < 1) {
    std::printf("no algo\n");
    std::exit(1);
  }
  p.algo = res.algo;
  size_t w = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&p.algo, CUBLASLT_ALGO_CONFIG_ID, &p.algo_id, sizeof p.algo_id, &w);
  cublasLtMatmulAlgoConfigGetAttribute(&p.algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &p.tile, sizeof p.tile, &w);
  return plans.emplace(key, p).first->second;
}
void Gemm(cudaStream_t s, const void* w, const void* x, void* y, int64_t m, int64_t n, int64_t k,
          int sm_target) {
  LtPlan& p = Plan(m, n, k, sm_target);
  const float a = 1, b = 0;
  LK(cublasLtMatmul(lt, p.op, &a, w, p.a, x, p.b, &b, y, p.c, y, p.c, &p.algo, lt_ws, kLtWs, s));
}

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 15004;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21;
  const bool random_x = argc > 3 && std::string(argv[3]) == "rand";
  LK(cublasLtCreate(&lt));
  CK(cudaMalloc(&lt_ws, kLtWs));
  std::mt19937 rng(1);
  std::vector<Layer> L = VideoBlockChain(rng);
  void *x, *y, *y2;
  const size_t xbytes = size_t(m) * 14336 * 2;
  CK(cudaMalloc(&x, xbytes));
  CK(cudaMalloc(&y, xbytes));
  CK(cudaMalloc(&y2, xbytes));
  CK(cudaMemset(x, 0, xbytes));
  if (random_x) RandomBf16(x, xbytes / 2, rng);
  const size_t big = size_t(14336) * 3072 * 2;
  void* ws[2];
  CK(cudaMalloc(&ws[0], big));
  CK(cudaMalloc(&ws[1], big));
  int lo, hi;
  CK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
  cudaStream_t sg, sd;
  CK(cudaStreamCreateWithPriority(&sg, cudaStreamNonBlocking, hi));
  CK(cudaStreamCreateWithPriority(&sd, cudaStreamNonBlocking, lo));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const int sms = prop.multiProcessorCount;
  const int reps = 3;
  const size_t nl = L.size() * reps;
  std::vector<cudaEvent_t> ev_g(nl), ev_d(nl);
  for (auto& e : ev_g) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  for (auto& e : ev_d) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));

  auto chain_bf16 = [&](int target) {
    for (int r = 0; r < reps; ++r)
      for (auto& l : L) Gemm(sg, l.bf, x, y, m, l.n, l.k, target);
  };
  auto chain_serial = [&](DequantCaching c) {
    for (int r = 0; r < reps; ++r)
      for (auto& l : L) {
        CK(DequantizeCuda(l.type, l.q, ws[0], FloatFormat::kBF16, l.n, l.k, sg, c));
        Gemm(sg, ws[0], x, y, m, l.n, l.k, 0);
      }
  };
  // Layer i's weight goes to ws[i % 2]; its dequantization (on sd, at most s SMs) waits for the
  // GEMM of layer i - 2 (same buffer); GEMM i (on sg, SM target sms - s) waits for it.
  auto chain_prefetch = [&](int s, bool limit_gemm) {
    auto dq = [&](size_t i) {
      const Layer& l = L[i % L.size()];
      if (i >= 2) CK(cudaStreamWaitEvent(sd, ev_g[i - 2]));
      CK(DequantizeCuda(l.type, l.q, ws[i & 1], FloatFormat::kBF16, l.n, l.k, sd,
                        DequantCaching::kKeepInL2, i == 0 ? 0 : s));
      CK(cudaEventRecord(ev_d[i], sd));
    };
    // sd starts after whatever sg did before
    CK(cudaEventRecord(ev_g[nl - 1], sg));
    CK(cudaStreamWaitEvent(sd, ev_g[nl - 1]));
    dq(0);
    for (size_t i = 0; i < nl; ++i) {
      const Layer& l = L[i % L.size()];
      CK(cudaStreamWaitEvent(sg, ev_d[i]));
      Gemm(sg, ws[i & 1], x, y, m, l.n, l.k, limit_gemm ? sms - s : 0);
      CK(cudaEventRecord(ev_g[i], sg));
      if (i + 1 < nl) dq(i + 1);
    }
  };

  struct Mode {
    std::string name;
    std::function<void()> run;
  };
  std::vector<Mode> modes = {
      {"bf16", [&] { chain_bf16(0); }},
      {"lazy serial", [&] { chain_serial(DequantCaching::kKeepInL2); }},
      {"prefetch all SMs", [&] { chain_prefetch(0, false); }},
  };
  for (int s : {2, 4, 8, 12}) {
    modes.push_back({"bf16 gemm target " + std::to_string(sms - s), [&, s] { chain_bf16(sms - s); }});
    modes.push_back({"prefetch s=" + std::to_string(s) + " gemm target " + std::to_string(sms - s),
                     [&, s] { chain_prefetch(s, true); }});
    modes.push_back({"prefetch s=" + std::to_string(s) + " gemm untargeted",
                     [&, s] { chain_prefetch(s, false); }});
  }
  // Plans and bit check: GEMM with each target vs the untargeted one, per shape.
  for (size_t li : {size_t(0), size_t(6), size_t(7)}) {
    const Layer& l = L[li];
    const size_t yb = size_t(m) * l.n * 2;
    Gemm(sg, l.bf, x, y, m, l.n, l.k, 0);
    CK(cudaStreamSynchronize(sg));
    std::vector<uint8_t> ref(yb), got(yb);
    CK(cudaMemcpy(ref.data(), y, yb, cudaMemcpyDeviceToHost));
    std::printf("[%lld,%lld] untargeted: algo %d tile %d\n", (long long)l.n, (long long)l.k,
                Plan(m, l.n, l.k, 0).algo_id, Plan(m, l.n, l.k, 0).tile);
    for (int s : {2, 4, 8, 12}) {
      CK(cudaMemset(y2, 0xFF, yb));
      Gemm(sg, l.bf, x, y2, m, l.n, l.k, sms - s);
      CK(cudaStreamSynchronize(sg));
      CK(cudaMemcpy(got.data(), y2, yb, cudaMemcpyDeviceToHost));
      size_t diff = 0;
      for (size_t b = 0; b < yb; b += 2) diff += std::memcmp(&ref[b], &got[b], 2) != 0;
      const LtPlan& p = Plan(m, l.n, l.k, sms - s);
      std::printf("  target %d: algo %d tile %d, %zu of %zu outputs differ from untargeted\n",
                  sms - s, p.algo_id, p.tile, diff, yb / 2);
    }
  }
  std::vector<std::vector<float>> ms = ChainRounds(
      modes.size(), rounds, reps, [&](size_t) { return sg; }, [&](size_t mi) { modes[mi].run(); });
  std::printf("%s, M = %lld, x %s, %d rounds, chain of one video block's 8 layers at M, per chain\n",
              prop.name, (long long)m, random_x ? "random" : "zero", rounds);
  std::vector<std::string> names;
  for (const auto& md : modes) names.push_back(md.name);
  PrintChainMedians(names, ms, 40);
  return 0;
}
