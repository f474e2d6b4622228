// File: tests/engine/linear_bench.cc
// ovid-bench-linear: how a QuantizedLinear's paths compare on a GPU, to tune
// LinearOptions::fused_max_tokens and the cache CostModel, plus WeightStore upload throughput.
// Not a test (prints a table). Usage: ovid-bench-linear [scratch_dir]
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <c10/cuda/CUDAFunctions.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops/quant_ops.h"
#include "engine/tensor/weight_store.h"
#include "kernels/cpu/quantize.h"
#include "tests/engine/test_gguf.h"

namespace ovid {
namespace {

double TimeMs(const std::function<void()>& fn, int iters) {
  fn();
  c10::cuda::device_synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  c10::cuda::device_synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count() /
         iters;
}

void BenchLayer(GgmlType type, int64_t out, int64_t in) {
  const c10::Device gpu(c10::kCUDA, 0);
  std::vector<float> values = testing::RandomValues(out * in, 5);
  std::vector<uint8_t> blocks(out * GgmlRowBytes(type, in));
  QuantizeTensor(type, values.data(), blocks.data(), out, in);
  const at::Tensor host =
      at::from_blob(blocks.data(), {static_cast<int64_t>(blocks.size())}, at::kByte);
  absl::StatusOr<QuantizedTensor> q =
      QuantizedTensor::FromBlocks("w", type, {out, in}, host.to(gpu));
  if (!q.ok()) {
    std::printf("%s\n", q.status().ToString().c_str());
    return;
  }
  auto shared = std::make_shared<const QuantizedTensor>(*std::move(q));
  LinearOptions fused_opts;
  fused_opts.fused_max_tokens = int64_t{1} << 40;
  fused_opts.fused_max_tokens_by_type.clear();
  LinearOptions dequant_opts;
  dequant_opts.fused_max_tokens = 0;
  const at::Tensor dense = *shared->Dequantize(at::kBFloat16);
  QuantizedLinear fused = *QuantizedLinear::Create(shared, {}, {}, LinearMode::kLazy, fused_opts);
  QuantizedLinear lazy = *QuantizedLinear::Create(shared, {}, {}, LinearMode::kLazy, dequant_opts);
  QuantizedLinear eager = *QuantizedLinear::Dense(dense, {});
  auto ws = *DequantWorkspace::Create(gpu, out * in * 2);

  const double dq_ms = TimeMs(
      [&] {
        (void)ops::DequantizeInto(type, shared->blocks(), out, in,
                                  *ws->View(out, in, at::kBFloat16));
      },
      50);
  std::printf("\n%s [%lld, %lld]: dequantize %.3f ms = %.3g s/weight (%.0f GB/s of traffic)\n",
              GgmlTypeName(type), (long long)out, (long long)in, dq_ms, dq_ms * 1e-3 / (out * in),
              (shared->nbytes() + 2.0 * out * in) / (dq_ms * 1e-3) / 1e9);
  std::printf("%8s %12s %12s %12s  %s\n", "tokens", "fused ms", "deq+gemm ms", "dense ms",
              "best lazy");
  for (int64_t tokens : {1, 8, 32, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}) {
    const at::Tensor x =
        at::empty({tokens, in}, at::TensorOptions().dtype(at::kBFloat16).device(gpu)).normal_();
    const int iters = tokens <= 1024 ? 50 : 10;
    double f_ms = -1;
    if (ops::HasFusedMatmul(type)) {
      f_ms = TimeMs([&] { (void)fused.Forward(x, ws.get()); }, iters);
    }
    const double l_ms = TimeMs([&] { (void)lazy.Forward(x, ws.get()); }, iters);
    const double e_ms = TimeMs([&] { (void)eager.Forward(x, ws.get()); }, iters);
    std::printf("%8lld %12.4f %12.4f %12.4f  %s\n", (long long)tokens, f_ms, l_ms, e_ms,
                f_ms >= 0 && f_ms < l_ms ? "fused" : "dequant+gemm");
  }
}

void BenchUpload(const std::string& dir) {
  // 16 Q8_0 tensors of 4096 x 8192 (about 570 MB in the file).
  std::vector<float> values = testing::RandomValues(int64_t{4096} * 8192, 9);
  std::vector<testing::TestTensor> tensors;
  for (int i = 0; i < 16; ++i) {
    tensors.push_back(
        {"blk." + std::to_string(i) + ".weight", GgmlType::kQ8_0, {4096, 8192}, values});
  }
  values.clear();
  setenv("TEST_TMPDIR", dir.c_str(), 1);
  absl::StatusOr<std::string> path = testing::WriteTestGguf("upload_bench.gguf", tensors);
  if (!path.ok()) {
    std::printf("%s\n", path.status().ToString().c_str());
    return;
  }
  for (int run = 0; run < 3; ++run) {
    LoadOptions options;
    options.log = run == 2;
    absl::StatusOr<std::unique_ptr<WeightStore>> store =
        WeightStore::Load(*path, c10::Device(c10::kCUDA, 0), options);
    if (!store.ok()) {
      std::printf("%s\n", store.status().ToString().c_str());
      return;
    }
    const VramAccounting a = (*store)->Accounting();
    std::printf("upload run %d: %.1f MB in %.3f s -> %.2f GB/s\n", run, a.uploaded_bytes / 1e6,
                a.load_seconds, a.upload_gbps);
  }
  std::remove(path->c_str());
}

}  // namespace
}  // namespace ovid

int main(int argc, char** argv) {
  if (c10::cuda::device_count() == 0) {
    std::printf("no CUDA device\n");
    return 0;
  }
  for (ovid::GgmlType t : {ovid::GgmlType::kQ4_K, ovid::GgmlType::kQ8_0, ovid::GgmlType::kQ6_K}) {
    ovid::BenchLayer(t, 3072, 3072);
    ovid::BenchLayer(t, 14336, 3072);
  }
  ovid::BenchUpload(argc > 1 ? argv[1] : "/tmp");
  return 0;
}
