// File: bench/cpu_dequant_bench.cc
// ovid-bench-cpu-dequant: CPU dequantization throughput for every supported ggml type, output
// format and thread count. Reports bytes_per_second = (bytes read + bytes written) / time, the
// figure bench/cpu-bench.sh puts next to gguf-py's numpy dequantization of the same shape.
// Weights are real quantizer output of N(0, 0.02) data, so scales look like a model's.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/quantize.h"
#include "kernels/ggml_types.h"

namespace {

using ovid::FloatFormat;
using ovid::GgmlType;

// A [kRows, kCols] weight matrix: 8 Mi values, 32 MiB of f32 output, well past the caches.
constexpr int64_t kRows = 2048;
constexpr int64_t kCols = 4096;

constexpr GgmlType kTypes[] = {GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0, GgmlType::kQ4_1,
                               GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ2_K,
                               GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

const std::vector<float>& SourceValues() {
  static const std::vector<float> values = [] {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.f, 0.02f);
    std::vector<float> v(static_cast<size_t>(kRows * kCols));
    for (float& x : v) x = normal(rng);
    return v;
  }();
  return values;
}

// Quantized once per type and reused by every format/thread case (K-quant fitting is slow).
const std::vector<uint8_t>& Blocks(GgmlType type) {
  static std::map<GgmlType, std::vector<uint8_t>> cache;
  std::vector<uint8_t>& blocks = cache[type];
  if (blocks.empty()) {
    blocks.resize(static_cast<size_t>(ovid::GgmlRowBytes(type, kCols) * kRows));
    if (!ovid::QuantizeTensor(type, SourceValues().data(), blocks.data(), kRows, kCols)) {
      blocks.clear();
    }
  }
  return blocks;
}

void BM_Dequantize(benchmark::State& state, GgmlType type, FloatFormat out, int threads) {
  const std::vector<uint8_t>& blocks = Blocks(type);
  if (blocks.empty()) {
    state.SkipWithError("quantization failed");
    return;
  }
  const int64_t in_bytes = static_cast<int64_t>(blocks.size());
  const int64_t out_bytes = kRows * kCols * ovid::FloatFormatBytes(out);
  std::vector<uint8_t> dst(static_cast<size_t>(out_bytes));
  for (auto _ : state) {
    ovid::DequantizeTensor(type, blocks.data(), dst.data(), out, kRows, kCols, threads);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (in_bytes + out_bytes));
  state.counters["threads"] = threads;
}

}  // namespace

int main(int argc, char** argv) {
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  for (GgmlType type : kTypes) {
    for (FloatFormat out : {FloatFormat::kF32, FloatFormat::kF16, FloatFormat::kBF16}) {
      for (int threads : thread_counts) {
        const std::string name = std::string("dequant/") + ovid::GgmlTypeName(type) + "/" +
                                 ovid::FloatFormatName(out) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_Dequantize, type, out, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
