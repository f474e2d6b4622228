// File: bench/cuda/cuda_kernels_bench.cc
// ovid-bench-cuda [--json PATH] [--quick] [--skip-dequant] [--skip-fused] | --profile [TYPE] |
// --k-sweep
// 1. Copy roofline: cudaMemcpyAsync device-to-device, bytes read + bytes written per second.
// 2. Dequantization to bf16 (and f16/f32 for Q4_K, Q6_K, Q8_0) at Ovi's weight shapes
//    [out, in] = 3072x3072, 14336x3072, 3072x14336: GB/s (source + output bytes) and % of copy,
//    with streaming stores (and for the key types' bf16 also with plain ones, kKeepInL2); for
//    Q4_K, Q6_K and Q8_0 also % of a cudaMemcpyAsync moving the same bytes (launch ramps).
// 3. Fused quantized matmul (FusedMatmul: the Hopper panel kernel where it applies) vs cuBLAS
//    bf16 GEMM (cublasGemmEx, bf16 in/out, fp32 compute) of the same shape, at M in {16, 64,
//    157, 314, 512, 628, 2048}; ratio = fused / cuBLAS time, both measured in this run on
//    rotating weight copies (more than L2 holds, as in a real forward where every layer has its
//    own weights). Also: the weight stream's GB/s (quantized bytes / fused time) and its share of
//    the copy bandwidth, the portable kernel's time (Q4_K), and for Q4_K a sweep of the panel
//    kernel's token tile and K split. A correctness spot check compares the fused output with
//    cuBLAS on the GPU-dequantized weight.
// --skip-dequant leaves out section 2, --skip-fused section 3 (the copy roofline is always
// measured).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/cuda/bench_timer.h"
#include "bench/cuda/stream_ceiling.cuh"
#include "kernels/block_scales.h"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/fused_matmul.cuh"
#include "kernels/cuda/fused_matmul_panel.cuh"
#include "kernels/fp16.h"
#include "kernels/ggml_types.h"

namespace ovid::bench {
namespace {

struct Shape {
  int64_t out, in;  // weight [out, in]; rows along in
};
constexpr Shape kShapes[] = {{3072, 3072}, {14336, 3072}, {3072, 14336}};
constexpr int kTokens[] = {16, 64, 157, 314, 512, 628, 2048};
constexpr int64_t kRotateBytes = int64_t{256} << 20;  // > 5x the H100/H200 L2

std::vector<uint8_t> RandomTensor(GgmlType type, int64_t elems, uint64_t seed) {
  const GgmlTypeInfo& info = GgmlInfo(type);
  const int64_t blocks = elems / info.block_size;
  std::vector<uint8_t> out(static_cast<size_t>(blocks * info.type_size));
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    const uint64_t r = rng();
    memcpy(&out[i], &r, 8);
  }
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  auto put = [&](uint8_t* p, uint16_t h) { memcpy(p, &h, 2); };
  if (type == GgmlType::kF32) {
    for (int64_t i = 0; i < blocks; ++i) {
      const float f = uni(rng);
      memcpy(&out[i * 4], &f, 4);
    }
  } else if (type == GgmlType::kF16 || type == GgmlType::kBF16) {
    for (int64_t i = 0; i < blocks; ++i) {
      const float f = uni(rng);
      put(&out[i * 2], type == GgmlType::kF16 ? FloatToHalf(f) : FloatToBf16(f));
    }
  } else {
    const std::vector<int> fields = HalfScaleOffsets(type);
    for (int64_t i = 0; i < blocks; ++i) {
      for (const int f : fields) put(&out[i * info.type_size + f], FloatToHalf(0.001f * uni(rng)));
    }
  }
  return out;
}

// Y [m, n] = X [m, k] . W [n, k]^T in bf16 (fp32 compute) by cuBLAS: the baseline every fused
// timing is compared with. Column-major view: Y^T[N,M] = W[N,K] (stored as K x N, transposed)
// * X^T[K,M].
cudaError_t CublasGemmBf16(cublasHandle_t blas, const void* w, const void* x, void* y, int64_t m,
                           int64_t n, int64_t k) {
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t st = cublasGemmEx(
      blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
      static_cast<int>(k), &alpha, w, CUDA_R_16BF, static_cast<int>(k), x, CUDA_R_16BF,
      static_cast<int>(k), &beta, y, CUDA_R_16BF, static_cast<int>(n), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT);
  return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

// How many copies of a `set_bytes` working set (weights, or inputs + outputs) together exceed
// kRotateBytes, so that cycling through them keeps L2 from holding any: at least `min_copies`.
int RotationCopies(int64_t set_bytes, int64_t min_copies = 2) {
  return static_cast<int>(std::max<int64_t>(
      min_copies, (kRotateBytes + set_bytes - 1) / std::max<int64_t>(1, set_bytes)));
}

// Device copies of one host tensor, enough of them to exceed kRotateBytes together.
struct Copies {
  std::vector<void*> ptrs;
  ~Copies() {
    for (void* p : ptrs) cudaFree(p);
  }
  bool Make(const std::vector<uint8_t>& host, int64_t min_copies = 1) {
    const int64_t n = RotationCopies(static_cast<int64_t>(host.size()), min_copies);
    for (int64_t i = 0; i < n; ++i) {
      void* p = nullptr;
      if (Failed(cudaMalloc(&p, host.size()), "cudaMalloc")) return false;
      ptrs.push_back(p);
      if (Failed(cudaMemcpy(p, host.data(), host.size(), cudaMemcpyHostToDevice), "upload")) {
        return false;
      }
    }
    return true;
  }
  bool Alloc(size_t bytes, int n) {
    for (int i = 0; i < n; ++i) {
      void* p = nullptr;
      if (Failed(cudaMalloc(&p, bytes), "cudaMalloc")) return false;
      ptrs.push_back(p);
    }
    return true;
  }
  int size() const { return static_cast<int>(ptrs.size()); }
};

struct Json {
  std::string body;
  void Add(const std::string& item) { body += (body.empty() ? "" : ",\n    ") + item; }
};

const char* FormatName(FloatFormat f) {
  return f == FloatFormat::kF32 ? "f32" : (f == FloatFormat::kF16 ? "f16" : "bf16");
}

// --profile [TYPE]: a few launches of the fused matmul (TYPE, default Q4_K; M = 157, 14336x3072,
// 3072x3072, then 3072x14336) and of one Q4_K dequantization, for ncu.
int Profile(GgmlType type) {
  const int64_t n = 14336, k = 3072, n_small = 3072;
  const int m = 157;
  const std::vector<uint8_t> host = RandomTensor(type, n * k, 1);
  Copies w, x, y, out;
  // x is [m, 14336] so the same buffer also serves the 3072x14336 launch (K = 14336).
  if (!w.Make(host, 1) || !x.Alloc(size_t{2} * m * n, 1) || !y.Alloc(size_t{2} * m * n, 1) ||
      !out.Alloc(size_t{2} * 14336 * 3072, 1)) {
    return 1;
  }
  cudaMemset(x.ptrs[0], 0x3c, size_t{2} * m * n);
  const std::vector<uint8_t> big = RandomTensor(GgmlType::kQ4_K, 14336 * 3072, 2);
  Copies wb;
  if (!wb.Make(big, 1)) return 1;
  for (int i = 0; i < 3; ++i) {
    if (Failed(FusedMatmul(type, w.ptrs[0], x.ptrs[0], y.ptrs[0], m, n, k, nullptr, nullptr),
               "fused") ||
        Failed(FusedMatmul(type, w.ptrs[0], x.ptrs[0], y.ptrs[0], m, n_small, k, nullptr,
                           nullptr),
               "fused 3072x3072") ||
        Failed(FusedMatmul(type, w.ptrs[0], x.ptrs[0], y.ptrs[0], m, n_small, n, nullptr,
                           nullptr),
               "fused 3072x14336") ||
        Failed(DequantizeCuda(GgmlType::kQ4_K, wb.ptrs[0], out.ptrs[0], FloatFormat::kBF16, 14336,
                              3072, nullptr),
               "dequant")) {
      return 1;
    }
  }
  return Failed(cudaDeviceSynchronize(), "sync") ? 1 : 0;
}

// --k-sweep: the panel kernel's fixed cost per launch. Q4_K, N = 3072, M = 157, token tile 160,
// K from 1024 to 12288 at 1 and 4 splits, next to cuBLAS on bf16 weights of the same shape and a
// 4-byte memset (the stream's floor per launch). A least-squares line t = fixed + K * per_k per
// series: at [3072, 3072] the fixed part is what a short K range cannot hide.
int KSweep() {
  cudaStream_t stream;
  if (Failed(cudaStreamCreate(&stream), "cudaStreamCreate")) return 1;
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) return 1;
  cublasSetStream(blas, stream);
  const int64_t n = 3072;
  const int m = 157;
  const std::vector<int64_t> ks = {1024, 2048, 3072, 6144, 12288};
  Copies x, y, tiny;
  if (!x.Alloc(size_t{2} * m * ks.back(), 1) || !y.Alloc(size_t{2} * m * n, 1) ||
      !tiny.Alloc(4, 1)) {
    return 1;
  }
  cudaMemset(x.ptrs[0], 0x3c, size_t{2} * m * ks.back());
  const double floor_us = MedianMicros(
      [&](int) { return cudaMemsetAsync(tiny.ptrs[0], 0, 4, stream); }, 1, stream);
  std::printf("memset 4 B (per-launch floor): %.2f us\n", floor_us);
  struct Series {
    const char* name;
    std::vector<double> us;
  };
  Series fused1{"fused splits 1", {}}, fused4{"fused splits 4", {}}, gemm{"cuBLAS bf16", {}};
  for (const int64_t k : ks) {
    const std::vector<uint8_t> host = RandomTensor(GgmlType::kQ4_K, n * k, 1);
    Copies w, wbf;
    const size_t bf_bytes = static_cast<size_t>(n * k * 2);
    if (!w.Make(host, 2) ||
        !wbf.Alloc(bf_bytes, RotationCopies(static_cast<int64_t>(bf_bytes)))) {
      return 1;
    }
    for (void* p : wbf.ptrs) cudaMemsetAsync(p, 0x3c, bf_bytes, stream);
    if (k == 3072) {
      // Host time per enqueue (no synchronisation inside): where it exceeds the kernel, the
      // back-to-back timings below measure the host, not the GPU.
      cudaStreamSynchronize(stream);
      for (int splits : {1, 4}) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 200; ++i) {
          if (Failed(FusedPanelMatmul(GgmlType::kQ4_K, w.ptrs[i & 1], x.ptrs[0], y.ptrs[0], m, n, k,
                                      nullptr, 160, splits, stream),
                     "fused")) {
            return 1;
          }
        }
        const double host_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count() /
            200;
        cudaStreamSynchronize(stream);
        std::printf("host time per FusedPanelMatmul enqueue (K 3072, splits %d): %.2f us\n",
                    splits, host_us);
      }
    }
    for (const int splits : {1, 4}) {
      (splits == 1 ? fused1 : fused4)
          .us.push_back(MedianMicros(
              [&](int v) {
                return FusedPanelMatmul(GgmlType::kQ4_K, w.ptrs[v], x.ptrs[0], y.ptrs[0], m, n, k,
                                        nullptr, 160, splits, stream);
              },
              w.size(), stream));
    }
    gemm.us.push_back(MedianMicros(
        [&](int v) { return CublasGemmBf16(blas, wbf.ptrs[v], x.ptrs[0], y.ptrs[0], m, n, k); },
        wbf.size(), stream));
  }
  std::printf("%-16s", "K");
  for (const int64_t k : ks) std::printf(" %9lld", static_cast<long long>(k));
  std::printf(" | fixed us  us per 1024 K\n");
  for (const Series* s : {&fused1, &fused4, &gemm}) {
    std::printf("%-16s", s->name);
    double sk = 0, st = 0, skk = 0, skt = 0;
    for (size_t i = 0; i < ks.size(); ++i) {
      std::printf(" %9.2f", s->us[i]);
      const double kk = ks[i] / 1024.0;
      sk += kk;
      st += s->us[i];
      skk += kk * kk;
      skt += kk * s->us[i];
    }
    const double cnt = static_cast<double>(ks.size());
    const double slope = (cnt * skt - sk * st) / (cnt * skk - sk * sk);
    std::printf(" | %8.2f  %8.2f\n", (st - slope * sk) / cnt, slope);
  }
  cublasDestroy(blas);
  return Failed(cudaStreamDestroy(stream), "cudaStreamDestroy") ? 1 : 0;
}

int Run(int argc, char** argv) {
  std::string json_path;
  bool quick = false, skip_dequant = false, skip_fused = false;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json_path = argv[++i];
    else if (!strcmp(argv[i], "--quick"))
      quick = true;
    else if (!strcmp(argv[i], "--skip-dequant"))
      skip_dequant = true;
    else if (!strcmp(argv[i], "--skip-fused"))
      skip_fused = true;
  }
  if (argc > 1 && !strcmp(argv[1], "--profile")) {
    const std::optional<GgmlType> type =
        argc > 2 ? GgmlTypeFromName(argv[2]) : std::optional<GgmlType>(GgmlType::kQ4_K);
    if (!type.has_value()) {
      std::fprintf(stderr, "--profile: unknown type %s\n", argv[2]);
      return 2;
    }
    return Profile(*type);
  }
  if (argc > 1 && !strcmp(argv[1], "--k-sweep")) return KSweep();
  cudaDeviceProp prop{};
  if (Failed(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20);
  cudaStream_t stream;
  if (Failed(cudaStreamCreate(&stream), "cudaStreamCreate")) return 1;

  // ---- 1. copy roofline ----
  double copy_gbps = 0;
  {
    const size_t copy_bytes = size_t{1} << 30;
    Copies cbuf;
    if (!cbuf.Alloc(copy_bytes, 2)) return 1;
    cudaMemset(cbuf.ptrs[0], 1, copy_bytes);
    const double copy_us = MedianMicros(
        [&](int) {
          return cudaMemcpyAsync(cbuf.ptrs[1], cbuf.ptrs[0], copy_bytes, cudaMemcpyDeviceToDevice,
                                 stream);
        },
        1, stream, 5, 7);
    copy_gbps = 2.0 * copy_bytes / (copy_us * 1e3);
    std::printf("copy D2D: %.1f GB/s (read + write)\n", copy_gbps);
    // Write-heavy ceilings: a plain kernel reading 1/ratio of what it writes, and memset.
    const int64_t vecs = static_cast<int64_t>(copy_bytes / 16);
    for (int ratio : {1, 2, 4, 8}) {
      const double us = MedianMicros(
          [&](int) { return bench::StreamExpand(cbuf.ptrs[0], cbuf.ptrs[1], vecs, ratio, stream); },
          1, stream, 5, 7);
      const double bytes = copy_bytes * (1.0 + 1.0 / ratio);
      std::printf("stream kernel, read:write 1:%d (%.0f%% writes): %.1f GB/s, %.1f%% of copy\n",
                  ratio, 100.0 * ratio / (ratio + 1), bytes / (us * 1e3),
                  100.0 * bytes / (us * 1e3) / copy_gbps);
    }
    // The same 1:4 kernel at the size of one Q4_K 14336x3072 -> bf16 dequantization (88 MB
    // written), rotating over buffers like the dequantization runs: what launch ramps and the
    // L2's write-back leave of the ceiling at that size.
    {
      const int64_t out_bytes = int64_t{14336} * 3072 * 2;
      const int64_t pair = out_bytes + out_bytes / 4;
      const int n = RotationCopies(pair);
      Copies in, out;
      if (!in.Alloc(static_cast<size_t>(out_bytes / 4), n) ||
          !out.Alloc(static_cast<size_t>(out_bytes), n)) {
        return 1;
      }
      for (const bool streaming : {false, true}) {
        const double us = MedianMicros(
            [&](int v) {
              return bench::StreamExpand(in.ptrs[v], out.ptrs[v], out_bytes / 16, 4, stream,
                                         streaming);
            },
            n, stream);
        std::printf("stream kernel 1:4 at 88 MB out, rotating, %s stores: %.1f GB/s, %.1f%% of copy\n",
                    streaming ? "streaming" : "plain", pair / (us * 1e3),
                    100.0 * pair / (us * 1e3) / copy_gbps);
      }
    }
    const double set_us = MedianMicros(
        [&](int) { return cudaMemsetAsync(cbuf.ptrs[1], 0, copy_bytes, stream); }, 1, stream, 5, 7);
    std::printf("memset (100%% writes): %.1f GB/s, %.1f%% of copy\n", copy_bytes / (set_us * 1e3),
                100.0 * copy_bytes / (set_us * 1e3) / copy_gbps);
  }

  Json dq_json, mm_json;
  // ---- 2. dequantization ----
  std::vector<GgmlType> dq_types = {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0};
  if (!quick) {
    for (GgmlType t :
         {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ2_K,
          GgmlType::kQ3_K, GgmlType::kQ5_K, GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
      dq_types.push_back(t);
    }
  }
  if (skip_dequant) dq_types.clear();
  // The copy rate at the dequantization's own size: cudaMemcpyAsync moving as many bytes (read +
  // written) as one dequantization, rotating over buffers the same way. At [3072, 3072] (24 MB)
  // a launch's ramp and tail weigh on any kernel; this shows how much of the gap to the 1 GiB
  // copy rate is that, not the decode.
  std::map<int64_t, double> same_size_copy;
  auto same_size_copy_gbps = [&](int64_t pair) -> double {
    auto it = same_size_copy.find(pair);
    if (it != same_size_copy.end()) return it->second;
    const size_t half = static_cast<size_t>(pair / 2);
    const int n = RotationCopies(pair);
    Copies a, b;
    if (!a.Alloc(half, n) || !b.Alloc(half, n)) return 0.0;
    const double us = MedianMicros(
        [&](int v) {
          return cudaMemcpyAsync(b.ptrs[v], a.ptrs[v], half, cudaMemcpyDeviceToDevice, stream);
        },
        n, stream);
    return same_size_copy[pair] = 2.0 * half / (us * 1e3);
  };
  std::printf("\n%-6s %-5s %-12s %-8s %9s %9s %7s %11s\n", "type", "out", "shape", "stores", "us",
              "GB/s", "%copy", "%same-size");
  for (GgmlType type : dq_types) {
    const bool key = type == GgmlType::kQ4_K || type == GgmlType::kQ6_K || type == GgmlType::kQ8_0;
    for (const Shape& s : kShapes) {
      const std::vector<uint8_t> host = RandomTensor(type, s.out * s.in, 1);
      for (FloatFormat f : {FloatFormat::kBF16, FloatFormat::kF16, FloatFormat::kF32}) {
        if (f != FloatFormat::kBF16 && !key) continue;
        const size_t out_bytes = static_cast<size_t>(s.out * s.in * FloatFormatBytes(f));
        const int64_t pair = static_cast<int64_t>(host.size() + out_bytes);
        const int n = RotationCopies(pair, 1);
        Copies src, dst;
        if (!src.Make(host, n) || !dst.Alloc(out_bytes, n)) return 1;
        // Streaming stores (the default), and for the key types' bf16 also the plain stores the
        // lazy linear path asks for (its GEMM reads the output right away).
        std::vector<DequantCaching> modes = {DequantCaching::kStream};
        if (key && f == FloatFormat::kBF16) modes.push_back(DequantCaching::kKeepInL2);
        for (DequantCaching caching : modes) {
          const double us = MedianMicros(
              [&](int v) {
                return DequantizeCuda(type, src.ptrs[v], dst.ptrs[v], f, s.out, s.in, stream,
                                      caching);
              },
              n, stream);
          const double gbps = pair / (us * 1e3);
          const char* stores = caching == DequantCaching::kStream ? "stream" : "keep-L2";
          char shape[32];
          std::snprintf(shape, sizeof(shape), "%lldx%lld", static_cast<long long>(s.out),
                        static_cast<long long>(s.in));
          const double same = key ? same_size_copy_gbps(pair) : 0.0;
          std::printf("%-6s %-5s %-12s %-8s %9.2f %9.1f %6.1f%%", GgmlTypeName(type),
                      FormatName(f), shape, stores, us, gbps, 100.0 * gbps / copy_gbps);
          if (same > 0) {
            std::printf(" %10.1f%% (copy of %.0f MB: %.1f GB/s)", 100.0 * gbps / same, pair / 1e6,
                        same);
          }
          std::printf("\n");
          char item[384];
          std::snprintf(item, sizeof(item),
                        "{\"type\": \"%s\", \"out\": \"%s\", \"stores\": \"%s\", \"shape\": "
                        "[%lld, %lld], \"us\": %.3f, \"gbps\": %.1f, \"pct_copy\": %.1f, "
                        "\"same_size_copy_gbps\": %.1f}",
                        GgmlTypeName(type), FormatName(f), stores, static_cast<long long>(s.out),
                        static_cast<long long>(s.in), us, gbps, 100.0 * gbps / copy_gbps, same);
          dq_json.Add(item);
        }
      }
    }
  }

  // ---- 3. fused matmul vs cuBLAS ----
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cublasCreate failed\n");
    return 1;
  }
  cublasSetStream(blas, stream);
  const std::vector<GgmlType> mm_types = {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
                                          GgmlType::kQ8_0};
  std::printf("\n%-6s %-12s %5s %10s %10s %7s %11s %9s %8s %7s %9s\n", "type", "N x K", "M",
              "fused us", "cublas us", "ratio", "dq+blas us", "relerr", "W GB/s", "%copy",
              "port. us");
  for (const Shape& s : kShapes) {
    if (skip_fused) break;
    const int64_t n = s.out, k = s.in;
    const int max_m = quick ? 628 : 2048;
    // Activations and outputs (one set; the weights are what rotates).
    std::vector<uint16_t> xh(static_cast<size_t>(max_m * k));
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    for (auto& v : xh) v = FloatToBf16(uni(rng));
    Copies x, y, yref;
    if (!x.Alloc(xh.size() * 2, 1) || !y.Alloc(size_t{2} * max_m * n, 1) ||
        !yref.Alloc(size_t{2} * max_m * n, 1)) {
      return 1;
    }
    cudaMemcpy(x.ptrs[0], xh.data(), xh.size() * 2, cudaMemcpyHostToDevice);
    // cuBLAS weights: bf16 copies of a dequantized Q8_0 tensor (values do not change the time).
    Copies wbf;
    {
      const size_t bytes = static_cast<size_t>(n * k * 2);
      if (!wbf.Alloc(bytes, RotationCopies(static_cast<int64_t>(bytes)))) return 1;
      const std::vector<uint8_t> q = RandomTensor(GgmlType::kQ8_0, n * k, 3);
      Copies qd;
      if (!qd.Make(q, 1)) return 1;
      for (void* p : wbf.ptrs) {
        if (Failed(DequantizeCuda(GgmlType::kQ8_0, qd.ptrs[0], p, FloatFormat::kBF16, n, k, stream),
                   "dequant")) {
          return 1;
        }
      }
      cudaStreamSynchronize(stream);
    }
    auto gemm = [&](const void* w, int m, void* out) {
      return CublasGemmBf16(blas, w, x.ptrs[0], out, m, n, k);
    };
    std::vector<double> blas_us;
    for (const int m : kTokens) {
      if (m > max_m) continue;
      blas_us.push_back(
          MedianMicros([&](int v) { return gemm(wbf.ptrs[v], m, y.ptrs[0]); }, wbf.size(), stream));
    }
    for (GgmlType type : mm_types) {
      const std::vector<uint8_t> host = RandomTensor(type, n * k, 11);
      Copies w;
      if (!w.Make(host, 2)) return 1;
      // Spot check at M = 157: fused vs cuBLAS on the GPU-dequantized weight.
      double relerr = -1;
      {
        Copies wd;
        if (!wd.Alloc(static_cast<size_t>(n * k * 2), 1)) return 1;
        const int m = 157;
        if (Failed(DequantizeCuda(type, w.ptrs[0], wd.ptrs[0], FloatFormat::kBF16, n, k, stream),
                   "dequant") ||
            Failed(gemm(wd.ptrs[0], m, yref.ptrs[0]), "gemm") ||
            Failed(FusedMatmul(type, w.ptrs[0], x.ptrs[0], y.ptrs[0], m, n, k, nullptr, stream),
                   "fused") ||
            Failed(cudaStreamSynchronize(stream), "sync")) {
          return 1;
        }
        std::vector<uint16_t> a(static_cast<size_t>(m * n)), b(a.size());
        cudaMemcpy(a.data(), y.ptrs[0], a.size() * 2, cudaMemcpyDeviceToHost);
        cudaMemcpy(b.data(), yref.ptrs[0], b.size() * 2, cudaMemcpyDeviceToHost);
        double e2 = 0, r2 = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          const double d = Bf16ToFloat(a[i]) - Bf16ToFloat(b[i]);
          e2 += d * d;
          r2 += double{Bf16ToFloat(b[i])} * Bf16ToFloat(b[i]);
        }
        relerr = std::sqrt(e2 / (r2 + 1e-300));
      }
      // The unfused alternative: dequantize into a bf16 workspace, then cuBLAS.
      Copies ws;
      if (!ws.Alloc(static_cast<size_t>(n * k * 2), 1)) return 1;
      int mi = 0;
      for (const int m : kTokens) {
        if (m > max_m) continue;
        const double us = MedianMicros(
            [&](int v) {
              return FusedMatmul(type, w.ptrs[v], x.ptrs[0], y.ptrs[0], m, n, k, nullptr, stream);
            },
            w.size(), stream);
        const double dq_us = MedianMicros(
            [&](int v) {
              const cudaError_t e =
                  DequantizeCuda(type, w.ptrs[v], ws.ptrs[0], FloatFormat::kBF16, n, k, stream);
              return e != cudaSuccess ? e : gemm(ws.ptrs[0], m, y.ptrs[0]);
            },
            w.size(), stream);
        // The portable kernel (Q4_K only): what the panel kernel replaced.
        double portable_us = -1;
        if (type == GgmlType::kQ4_K) {
          portable_us = MedianMicros(
              [&](int v) {
                return FusedMatmulTiled(type, w.ptrs[v], x.ptrs[0], y.ptrs[0], m, n, k, nullptr, 0,
                                        stream);
              },
              w.size(), stream);
        }
        // Panel kernel sweep (Q4_K, Ovi's token counts): token tile x K split, "tile/splits us".
        std::string sweep;
        if (type == GgmlType::kQ4_K && (m == 157 || m == 314 || m == 512 || m == 628)) {
          for (const int tile : {64, 128, 160}) {
            for (const int splits : {1, 2, 3, 4, 5, 6, 8}) {
              const int64_t ctas = (n + 127) / 128 * ((m + tile - 1) / tile) * splits;
              if (ctas > 2 * 132) continue;  // more than two waves: never the better choice
              const double t = MedianMicros(
                  [&](int v) {
                    return FusedPanelMatmul(type, w.ptrs[v], x.ptrs[0], y.ptrs[0], m, n, k, nullptr,
                                            tile, splits, stream);
                  },
                  w.size(), stream);
              char buf[48];
              std::snprintf(buf, sizeof(buf), "%s%d/%d %.1f", sweep.empty() ? "" : ", ", tile,
                            splits, t);
              sweep += buf;
            }
          }
          std::printf("         sweep tile/splits us: %s\n", sweep.c_str());
        }
        const double ratio = us / blas_us[mi];
        const double w_gbps = static_cast<double>(host.size()) / (us * 1e3);
        char shape[32];
        std::snprintf(shape, sizeof(shape), "%lldx%lld", static_cast<long long>(n),
                      static_cast<long long>(k));
        std::printf("%-6s %-12s %5d %10.2f %10.2f %7.3f %11.2f %9.2e %8.0f %6.1f%% %9.2f\n",
                    GgmlTypeName(type), shape, m, us, blas_us[mi], ratio, dq_us, relerr, w_gbps,
                    100.0 * w_gbps / copy_gbps, portable_us);
        char item[1024];
        std::snprintf(item, sizeof(item),
                      "{\"type\": \"%s\", \"n\": %lld, \"k\": %lld, \"m\": %d, \"fused_us\": %.3f, "
                      "\"cublas_us\": %.3f, \"ratio\": %.4f, \"dequant_plus_cublas_us\": %.3f, "
                      "\"relerr_vs_cublas_m157\": %.3e, \"weight_gbps\": %.1f, "
                      "\"weight_pct_copy\": %.1f, \"portable_us\": %.3f, \"sweep\": \"%s\"}",
                      GgmlTypeName(type), static_cast<long long>(n), static_cast<long long>(k), m,
                      us, blas_us[mi], ratio, dq_us, relerr, w_gbps, 100.0 * w_gbps / copy_gbps,
                      portable_us, sweep.c_str());
        mm_json.Add(item);
        ++mi;
      }
    }
  }
  cublasDestroy(blas);

  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr) {
      std::perror(json_path.c_str());
      return 1;
    }
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::fprintf(f,
                 "{\n  \"card\": \"%s\",\n  \"sms\": %d,\n  \"date\": \"%s\",\n"
                 "  \"copy_gbps\": %.1f,\n  \"dequant\": [\n    %s\n  ],\n"
                 "  \"fused_matmul\": [\n    %s\n  ]\n}\n",
                 prop.name, prop.multiProcessorCount, date, copy_gbps, dq_json.body.c_str(),
                 mm_json.body.c_str());
    std::fclose(f);
    std::printf("\nwrote %s\n", json_path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace ovid::bench

int main(int argc, char** argv) { return ovid::bench::Run(argc, argv); }
