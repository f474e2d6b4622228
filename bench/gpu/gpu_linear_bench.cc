// File: bench/gpu/gpu_linear_bench.cc
// ovid-bench-gpu [--json PATH] [--commit TEXT] [--quick]
// What a quantized Ovi linear layer costs on the GPU, every number against baselines measured in
// the same process:
//  1. copy roofline (cudaMemcpyAsync D2D, bytes read + written), at the start and again before
//     each shape;
//  2. dequantization to bf16 through the engine (ops::DequantizeInto) and through the
//     ComfyUI-GGUF-style ATen baseline (comfy_dequant.h): GB/s (blocks + bf16 output) and % of
//     the copy rate;
//  3. for Ovi's weight shapes and token counts: a resident bf16 weight (at::linear -> cuBLAS),
//     QuantizedLinear kLazy (its automatic path), kEager, and the ComfyUI-style baseline, for
//     Q4_K, Q6_K and Q8_0, as ratios to the bf16 time;
//  4. the goal sums over one Ovi block's linear layers (ovi_block_layers.h), lazy vs bf16.
// The quantized weights are the bf16 baseline's weight quantized on the CPU, as a GGUF file is
// made from the bf16 model. Every layer has its own weights in a real forward pass, so each method
// cycles through copies of its weights totalling more than 256 MB (> 4x the H100/H200 L2).
// Timing: gpu_timer.h (CUDA events behind a pre-filled queue, shuffled rounds, medians).
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/cuda/bench_timer.h"
#include "bench/gpu/comfy_dequant.h"
#include "bench/gpu/gpu_timer.h"
#include "bench/gpu/ovi_block_layers.h"
#include "engine/ops/quant_ops.h"
#include "engine/tensor/fused_dispatch.h"
#include "engine/tensor/quantized_linear.h"
#include "kernels/cpu/quantize.h"
#include "nlohmann/json.hpp"

namespace ovid::bench {
namespace {

using nlohmann::json;

constexpr int64_t kRotateBytes = int64_t{256} << 20;
struct Shape {
  int64_t out, in;
};
constexpr Shape kShapes[] = {{3072, 3072}, {14336, 3072}, {3072, 14336}};
// Audio 157/314 (batch 1/2), text 512, a 628-token audio batch of 4, and video latents.
constexpr int64_t kTokens[] = {157, 314, 512, 628, 2048, 15004, 30008, 54900};
// The lazy == eager check runs where lazy dequantizes + GEMMs: above every type's fixed
// fused-kernel token limit (LinearOptions::fused_max_tokens_by_type), on the lazy_fixed layers.
constexpr int64_t kCheckTokens = 512;
constexpr GgmlType kTypes[] = {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0};
const char* const kMethods[] = {"lazy", "eager", "comfy"};

cudaStream_t Stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

// Timed rounds of the layer comparison. Heavy GEMMs hold an H100 at its power limit, where the
// clock wanders by a few percent over tens of milliseconds; 7 rounds of ~7 ms batches left
// identical GEMMs (bf16 vs eager) up to 6% apart at 15,004 tokens.
constexpr int kLayerRounds = 21;

// Calls per batch for a call of about est_us: batches of ~20 ms, 2 to 20 calls.
int CallsPerBatch(double est_us) {
  return std::clamp(static_cast<int>(20000.0 / std::max(est_us, 1.0)), 2, 20);
}

// A dequantization's time for batch sizing: bytes read + written at ~2.5 TB/s (2.5e6 bytes per
// us). Until 2026-11-27 this divided by 2e3-3e3, a thousand times too slow an estimate, so the
// dequantization and every lazy layer ran in batches of 2-7 calls where bf16 and eager ran 20:
// the first call after the spin kernel (no programmatic-launch overlap, a cold launch) weighed
// 3-10x as much in lazy's per-call time as in bf16's.
double EstimatedDequantMicros(double bytes) { return bytes / 2.5e6; }

// A dequantization's traffic: the blocks read plus the bf16 weight written.
double DequantBytes(int64_t block_bytes, const Shape& s) {
  return static_cast<double>(block_bytes) + 2.0 * s.out * s.in;
}

// GPU microseconds per call of fn(variant) (gpu_timer.h), timed on its own; batches of about
// 20 ms judged from `est_us`. `host_us`, if given, receives the host enqueue time per call.
double Time(const std::function<void(int)>& fn, int variants, double est_us,
            double* host_us = nullptr) {
  try {
    const Timing t = TimeCalls(fn, variants, CallsPerBatch(est_us));
    if (host_us != nullptr) *host_us = t.host_us;
    return t.gpu_us;
  } catch (const std::exception& e) {  // one failed measurement must not lose the others
    std::fprintf(stderr, "measurement failed: %s\n", e.what());
    return -1;
  }
}

int Copies(int64_t bytes) {
  return static_cast<int>(std::max<int64_t>(2, (kRotateBytes + bytes - 1) / bytes));
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) throw std::runtime_error(v.status().ToString());
  return *std::move(v);
}

void Check(const absl::Status& st) {
  if (!st.ok()) throw std::runtime_error(st.ToString());
}

// Random blocks, for --cpu-check (every bit pattern, not just what a quantizer writes); the fp16
// scale fields get small finite values (random bits there would decode to NaN/Inf and large
// magnitudes).
at::Tensor RandomBlocks(GgmlType type, int64_t out, int64_t in, c10::Device device) {
  const GgmlTypeInfo& info = GgmlInfo(type);
  const int64_t n = out * in / info.block_size;
  const auto opts = at::TensorOptions().device(device);
  at::Tensor b = at::randint(0, 256, {n, info.type_size}, opts.dtype(at::kByte));
  std::vector<int> scale_offsets;
  if (type == GgmlType::kQ4_K) scale_offsets = {0, 2};                                  // d, dmin
  if (type == GgmlType::kQ8_0) scale_offsets = {0};                                     // d
  if (type == GgmlType::kQ6_K) scale_offsets = {static_cast<int>(info.type_size) - 2};  // d
  for (const int off : scale_offsets) {
    const at::Tensor h = at::rand({n, 1}, opts.dtype(at::kFloat)).sub(0.5).mul(0.002).to(at::kHalf);
    b.narrow(1, off, 2).copy_(h.view(at::kByte));
  }
  return b.reshape({-1});
}

// The GGUF blocks of `w` (the bf16 baseline's weight, as a file is quantized from the bf16
// model), on w's device. The values matter: at the H100's power cap a GEMM on all-zero weights ran
// 15% faster than on randn ones, so lazy and eager must multiply what a real file expands to, not
// random blocks (bench/NOTES.md, "The benchmark's weights and its interleaving order").
at::Tensor QuantizedBlocks(GgmlType type, const at::Tensor& w) {
  const at::Tensor src = w.to(at::kCPU, at::kFloat).contiguous();
  const int64_t rows = src.size(0), cols = src.size(1);
  at::Tensor blocks =
      at::empty({rows * GgmlRowBytes(type, cols)}, at::TensorOptions().dtype(at::kByte));
  if (!QuantizeTensor(type, src.data_ptr<float>(), blocks.data_ptr(), rows, cols)) {
    throw std::runtime_error(std::string("cannot quantize to ") + GgmlTypeName(type));
  }
  return blocks.to(w.device());
}

// Everything one (shape, type) needs: rotating block copies with their lazy layers, and dense
// copies with their eager layers.
struct TypeSet {
  GgmlType type;
  std::vector<std::shared_ptr<const QuantizedTensor>> q;
  // lazy follows the fused dispatch measured on this card (what the daemon does by default),
  // lazy_fixed the fixed per-type limits (--fused-dispatch fixed).
  std::vector<QuantizedLinear> lazy, lazy_fixed, eager;
  LinearOptions measured, fixed;
};

using Key = std::tuple<int64_t, int64_t, int64_t, std::string, GgmlType>;  // out,in,M,method,type

class Bench {
 public:
  explicit Bench(bool quick) : quick_(quick) {}
  int Run(const std::string& json_path, const std::string& commit);

 private:
  void CopyRoofline();
  TypeSet Prepare(GgmlType type, const Shape& s, const at::Tensor& w, const at::Tensor& bias,
                  const at::Tensor& x_check);
  void MeasureShape(const Shape& s);
  void Goals();
  double At(const Shape& s, int64_t m, const std::string& method, GgmlType t) const {
    auto it = us_.find(Key{s.out, s.in, m, method, t});
    return it == us_.end() ? -1 : it->second;
  }

  bool quick_;
  std::unique_ptr<DequantWorkspace> ws_;
  double copy_gbps_ = 0;
  std::map<Key, double> us_;
  std::vector<std::string> dispatch_changes_;  // where the measured dispatch changed the path
  json dequant_ = json::array(), linear_ = json::array(), checks_ = json::array(),
       goals_ = json::array();
};

void Bench::CopyRoofline() {
  const int64_t bytes = int64_t{1} << 30;
  const auto opts = at::TensorOptions().dtype(at::kByte).device(at::kCUDA);
  const at::Tensor a = at::randint(0, 256, {bytes}, opts), b = at::empty({bytes}, opts);
  const double us = MedianMicros(  // bench/cuda's timer: one copy per launch needs no pre-fill
      [&](int) {
        return cudaMemcpyAsync(b.data_ptr(), a.data_ptr(), bytes, cudaMemcpyDeviceToDevice,
                               Stream());
      },
      1, Stream(), 5, 7);
  copy_gbps_ = 2.0 * bytes / (us * 1e3);
  std::printf("copy D2D 1 GiB: %.1f GB/s (read + write)\n", copy_gbps_);
}

TypeSet Bench::Prepare(GgmlType type, const Shape& s, const at::Tensor& w, const at::Tensor& bias,
                       const at::Tensor& x_check) {
  TypeSet set{type, {}, {}, {}, {}, {}, {}};
  const at::Tensor blocks = QuantizedBlocks(type, w);
  const int nq = Copies(blocks.numel()), nd = Copies(2 * s.out * s.in);
  for (int i = 0; i < nq; ++i) {
    set.q.push_back(std::make_shared<const QuantizedTensor>(
        OrDie(QuantizedTensor::FromBlocks("w", type, {s.out, s.in}, blocks.clone()))));
  }
  // The load-time measurement, as WeightStore runs it, at this benchmark's audio-sized counts,
  // ties going to the fixed limits' choice as there (without the limit a tie dequantized: Q4_K
  // [3072 x 3072] at 256 tokens, 17.9 against 17.9 us, went to dequantize + cuBLAS here and to
  // the fused kernel in the daemon). MeasureFusedDispatch drops the counts above
  // kDispatchMaxTokens itself.
  DispatchTarget target{set.q[0], std::vector<int64_t>(std::begin(kTokens), std::end(kTokens))};
  target.fixed_max_tokens = set.fixed.FusedMaxTokens(type, ops::HasPanelFusedMatmul(type, s.in));
  set.measured.measured_dispatch =
      std::make_shared<const FusedDispatch>(OrDie(MeasureFusedDispatch({target})));
  for (const std::string& line : set.measured.measured_dispatch->SummaryLines()) {
    std::printf("dispatch %s\n", line.c_str());
  }
  for (const auto& q : set.q) {
    set.lazy.push_back(
        OrDie(QuantizedLinear::Create(q, {}, bias, LinearMode::kLazy, set.measured)));
    set.lazy_fixed.push_back(
        OrDie(QuantizedLinear::Create(q, {}, bias, LinearMode::kLazy, set.fixed)));
  }
  std::vector<at::Tensor> dense;
  for (int i = 0; i < nd; ++i) {
    dense.push_back(at::empty({s.out, s.in}, x_check.options()));
  }
  const int nv = std::max(nq, nd);
  // Dequantization throughput, output rotating too (the writes would otherwise sit in L2).
  const double bytes = DequantBytes(blocks.numel(), s);
  const double ovid_us = Time(
      [&](int v) {
        Check(ops::DequantizeInto(type, set.q[v % nq]->blocks(), s.out, s.in, dense[v % nd]));
      },
      nv, EstimatedDequantMicros(bytes));
  const double comfy_us = Time(
      [&](int v) { (void)ComfyDequantize(type, set.q[v]->blocks(), s.out, s.in, at::kBFloat16); },
      nq, s.out * s.in / 1e4);
  for (const auto& [who, us] : {std::pair{"ovid", ovid_us}, std::pair{"comfy", comfy_us}}) {
    const double gbps = bytes / (us * 1e3);
    std::printf("dequant %-5s %-5s %5lldx%-5lld %9.1f us %8.1f GB/s %6.2f%% of copy\n", who,
                GgmlTypeName(type), (long long)s.out, (long long)s.in, us, gbps,
                100 * gbps / copy_gbps_);
    dequant_.push_back({{"impl", who},
                        {"type", GgmlTypeName(type)},
                        {"shape", {s.out, s.in}},
                        {"us", us},
                        {"gbps", gbps},
                        {"pct_copy", 100 * gbps / copy_gbps_},
                        {"copy_gbps", copy_gbps_}});
  }
  for (int i = 0; i < nd; ++i) {
    Check(ops::DequantizeInto(type, set.q[i % nq]->blocks(), s.out, s.in, dense[i]));
    set.eager.push_back(
        OrDie(QuantizedLinear::Create(set.q[i % nq], dense[i], bias, LinearMode::kEager)));
  }
  // Checks: the baseline decodes the same values (fp16 scale arithmetic, so ~1e-3), and lazy
  // equals eager bit for bit (same dequantizer, same GEMM). Reported, not fatal: the timings
  // stay meaningful and the JSON says which check failed.
  const at::Tensor ref = OrDie(set.q[0]->Dequantize(at::kFloat));
  const at::Tensor comfy = ComfyDequantize(type, set.q[0]->blocks(), s.out, s.in, at::kFloat);
  const double rel = comfy.sub(ref).norm().item<double>() / ref.norm().item<double>();
  LinearPath path = LinearPath::kNone;
  const at::Tensor yl = OrDie(set.lazy_fixed[0].Forward(x_check, ws_.get(), &path));
  const at::Tensor ye = OrDie(set.eager[0].Forward(x_check, ws_.get()));
  const double maxdiff = yl.to(at::kFloat).sub(ye.to(at::kFloat)).abs().max().item<double>();
  const bool ok = rel < 5e-3 && maxdiff == 0 && path == LinearPath::kDequantGemm;
  std::printf(
      "check %s %lldx%lld: comfy vs ovid dequant relerr %.2e, lazy vs eager max|diff| "
      "%.3g at %lld tokens, lazy path %s: %s\n",
      GgmlTypeName(type), (long long)s.out, (long long)s.in, rel, maxdiff,
      static_cast<long long>(kCheckTokens),
      path == LinearPath::kDequantGemm ? "dequant+gemm" : "other", ok ? "ok" : "FAIL");
  checks_.push_back({{"type", GgmlTypeName(type)},
                     {"shape", {s.out, s.in}},
                     {"comfy_vs_ovid_relerr", rel},
                     {"lazy_vs_eager_maxdiff", maxdiff},
                     {"lazy_path_157", path == LinearPath::kDequantGemm ? "dequant_gemm" : "other"},
                     {"ok", ok}});
  return set;
}

void Bench::MeasureShape(const Shape& s) {
  // The dequantization's baseline, measured again right before it (same power state). The 2 GiB
  // it allocates also moves where this shape's buffers land: full runs without it read Q4_K
  // [3072, 14336] at 72-74% while the copy rate stayed at ~3.0 TB/s, and 85-86% with it, in
  // either shape order (bench/NOTES.md, "Where the buffers land").
  CopyRoofline();
  const auto opts = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  std::vector<int64_t> tokens(std::begin(kTokens), std::end(kTokens));
  if (quick_) tokens = {157, 314, 512, 15004, 30008};
  const at::Tensor x_all = at::randn({tokens.back(), s.in}, opts);
  const at::Tensor bias = at::randn({s.out}, opts).mul(0.1);
  // One bf16 weight, ~N(0, 0.02) like a trained layer's; its copies hold the same values, and
  // every type's blocks are its quantization.
  const at::Tensor w = at::randn({s.out, s.in}, opts).mul(0.02);
  std::vector<at::Tensor> wbf;
  for (int i = 0, n = Copies(2 * s.out * s.in); i < n; ++i) wbf.push_back(w.clone());
  std::vector<TypeSet> sets;
  for (const GgmlType t : kTypes) {
    try {
      sets.push_back(Prepare(t, s, w, bias, x_all.narrow(0, 0, kCheckTokens)));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s %lldx%lld skipped: %s\n", GgmlTypeName(t), (long long)s.out,
                   (long long)s.in, e.what());
    }
  }

  std::printf("\n[%lld x %lld] time / bf16 time (< 1: faster than the resident bf16 weight)\n",
              (long long)s.out, (long long)s.in);
  std::printf("%6s %10s", "tokens", "bf16 us");
  for (const TypeSet& set : sets) {
    std::printf(" | %4s lazy  eager  comfy", GgmlTypeName(set.type));
  }
  std::printf("\n");
  for (const int64_t m : tokens) {
    const at::Tensor x = x_all.narrow(0, 0, m);
    const double gemm_us = 2.0 * m * s.out * s.in / 5e8 + 5;
    // bf16 and every type's lazy and eager layers in alternating batches (one shared clock and
    // power state, see TimeInterleaved); the ComfyUI-style baseline on its own afterwards, as it
    // synchronizes the stream in every call.
    std::vector<TimedMethod> methods = {{[&](int v) { (void)at::linear(x, wbf[v], bias); },
                                         static_cast<int>(wbf.size()), CallsPerBatch(gemm_us)}};
    // Where the measured dispatch takes another path than the fixed limits, lazy_fixed is timed
    // too (its index in `methods`); elsewhere the two are the same calls.
    std::vector<int> fixed_at(sets.size(), -1);
    for (size_t i = 0; i < sets.size(); ++i) {
      TypeSet& set = sets[i];
      const double dq_us = EstimatedDequantMicros(DequantBytes(set.q[0]->nbytes(), s));
      methods.push_back({[&](int v) { (void)OrDie(set.lazy[v].Forward(x, ws_.get())); },
                         static_cast<int>(set.lazy.size()), CallsPerBatch(gemm_us + dq_us)});
      methods.push_back({[&](int v) { (void)OrDie(set.eager[v].Forward(x, ws_.get())); },
                         static_cast<int>(set.eager.size()), CallsPerBatch(gemm_us)});
    }
    for (size_t i = 0; i < sets.size(); ++i) {
      TypeSet& set = sets[i];
      const c10::Device cuda = set.q[0]->device();
      if (QuantizedPathFor(set.type, s.out, s.in, m, cuda, set.measured) ==
          QuantizedPathFor(set.type, s.out, s.in, m, cuda, set.fixed)) {
        continue;
      }
      const double dq_us = EstimatedDequantMicros(DequantBytes(set.q[0]->nbytes(), s));
      fixed_at[i] = static_cast<int>(methods.size());
      methods.push_back({[&](int v) { (void)OrDie(set.lazy_fixed[v].Forward(x, ws_.get())); },
                         static_cast<int>(set.lazy_fixed.size()), CallsPerBatch(gemm_us + dq_us)});
    }
    std::vector<Timing> t(methods.size(), Timing{-1, 0});
    try {
      t = TimeMethods(methods, kLayerRounds);
    } catch (const std::exception& e) {  // one failed measurement must not lose the others
      std::fprintf(stderr, "measurement failed: %s\n", e.what());
    }
    const double bf = t[0].gpu_us;
    us_[Key{s.out, s.in, m, "bf16", GgmlType::kBF16}] = bf;
    linear_.push_back({{"shape", {s.out, s.in}},
                       {"tokens", m},
                       {"method", "bf16"},
                       {"type", "bf16"},
                       {"us", bf},
                       {"host_us", t[0].host_us},
                       {"ratio_to_bf16", 1.0}});
    std::printf("%6lld %10.1f", (long long)m, bf);
    for (size_t i = 0; i < sets.size(); ++i) {
      TypeSet& set = sets[i];
      double comfy_host = 0;
      const double comfy_us = Time(
          [&](int v) { (void)ComfyLinear(x, set.type, set.q[v]->blocks(), s.out, s.in, bias); },
          static_cast<int>(set.q.size()), gemm_us + s.out * s.in / 1e4, &comfy_host);
      const Timing timed[3] = {t[1 + 2 * i], t[2 + 2 * i], Timing{comfy_us, comfy_host}};
      double r[3];
      for (int k = 0; k < 3; ++k) {
        r[k] = timed[k].gpu_us / bf;
        us_[Key{s.out, s.in, m, kMethods[k], set.type}] = timed[k].gpu_us;
        linear_.push_back({{"shape", {s.out, s.in}},
                           {"tokens", m},
                           {"method", kMethods[k]},
                           {"type", GgmlTypeName(set.type)},
                           {"us", timed[k].gpu_us},
                           {"host_us", timed[k].host_us},
                           {"ratio_to_bf16", r[k]}});
      }
      std::printf(" | %9.3f %6.3f %6.2f", r[0], r[1], r[2]);
      const Timing fixed = fixed_at[i] < 0 ? timed[0] : t[fixed_at[i]];
      us_[Key{s.out, s.in, m, "lazy_fixed", set.type}] = fixed.gpu_us;
      if (fixed_at[i] >= 0) {
        dispatch_changes_.push_back(
            absl::StrFormat("%s [%d x %d] @%d: measured dispatch %.3f, fixed limits %.3f of bf16",
                            GgmlTypeName(set.type), s.out, s.in, m, r[0], fixed.gpu_us / bf));
        linear_.push_back({{"shape", {s.out, s.in}},
                           {"tokens", m},
                           {"method", "lazy_fixed"},
                           {"type", GgmlTypeName(set.type)},
                           {"us", fixed.gpu_us},
                           {"host_us", fixed.host_us},
                           {"ratio_to_bf16", fixed.gpu_us / bf}});
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
}

void Bench::Goals() {
  struct Goal {
    const char* name;
    int64_t self, other;
    double target;  // lazy / bf16 must be at most this (video) or below it (audio)
    bool strict;
  };
  const Goal goals[] = {
      {"video block @15004 (fusion k/v at 157, text k/v at 512)", 15004, 157, 1.03, false},
      // --batch-guidance: both passes of a step in one batch, each weight expanded once for both.
      {"video block @30008 (guidance batched; fusion k/v at 314, text k/v at 512)", 30008, 314,
       1.03, false},
      {"audio block @157 (fusion k/v at 15004, text k/v at 512)", 157, 15004, 1.0, true},
      {"audio block @314 (fusion k/v at 30008, text k/v at 512)", 314, 30008, 1.0, true}};
  std::printf("\nWhere the measured dispatch took another path than the fixed limits: %s\n",
              dispatch_changes_.empty() ? "nowhere" : "");
  for (const std::string& c : dispatch_changes_) std::printf("  %s\n", c.c_str());
  std::printf(
      "\nGoal sums over one Ovi block's 12 linear layers, Q4_K_M types "
      "(v and ffn.2 Q6_K, rest Q4_K):\n");
  for (const Goal& g : goals) {
    double sum[4] = {0, 0, 0, 0};  // bf16, lazy, eager, comfy
    double lazy_fixed = 0;         // lazy under the fixed per-type limits
    // bf16 and lazy over a subset of the layers.
    struct Part {
      double bf16 = 0, lazy = 0;
      void Add(const double (&v)[4]) {
        bf16 += v[0];
        lazy += v[1];
      }
      double Ratio() const { return lazy / bf16; }
    };
    Part own;   // without the fusion k/v (the other tower's tokens)
    Part step;  // the layers a denoising step runs
    Part self;  // the layers at the block's own token count
    int n_self = 0;
    bool missing = false;
    for (const BlockLayer& l : OviBlockLayers(g.self, g.other, 512)) {
      const Shape s{l.out, l.in};
      const double v[4] = {At(s, l.tokens, "bf16", GgmlType::kBF16),
                           At(s, l.tokens, "lazy", l.type), At(s, l.tokens, "eager", l.type),
                           At(s, l.tokens, "comfy", l.type)};
      for (int i = 0; i < 4; ++i) {
        missing |= v[i] < 0;
        sum[i] += v[i];
      }
      lazy_fixed += At(s, l.tokens, "lazy_fixed", l.type);
      if (l.tokens == g.self || l.tokens == 512) own.Add(v);
      if (!l.once_per_request) step.Add(v);
      if (l.tokens == g.self) {
        ++n_self;
        self.Add(v);
      }
    }
    if (missing) {
      std::printf("GOAL %s: not measured (token count skipped)\n", g.name);
      continue;
    }
    const double ratio = sum[1] / sum[0];
    const bool met = g.strict ? ratio < g.target : ratio <= g.target;
    std::printf(
        "GOAL %s: bf16 %.1f us, lazy %.1f us -> lazy/bf16 %.4f (target %s %.2f): %s; "
        "eager %.4f, comfy %.3f; without fusion k/v: lazy/bf16 %.4f; per denoising step "
        "(text k/v once per request): lazy/bf16 %.4f; the %d layers at %lld tokens only: "
        "lazy/bf16 %.4f; with the fixed limits instead of the measured dispatch: lazy/bf16 %.4f\n",
        g.name, sum[0], sum[1], ratio, g.strict ? "<" : "<=", g.target, met ? "MET" : "NOT MET",
        sum[2] / sum[0], sum[3] / sum[0], own.Ratio(), step.Ratio(), n_self,
        static_cast<long long>(g.self), self.Ratio(), lazy_fixed / sum[0]);
    goals_.push_back({{"goal", g.name},
                      {"bf16_us", sum[0]},
                      {"lazy_us", sum[1]},
                      {"eager_us", sum[2]},
                      {"comfy_us", sum[3]},
                      {"lazy_ratio", ratio},
                      {"eager_ratio", sum[2] / sum[0]},
                      {"comfy_ratio", sum[3] / sum[0]},
                      {"lazy_ratio_without_fusion_kv", own.Ratio()},
                      {"lazy_ratio_per_step", step.Ratio()},
                      {"lazy_ratio_own_tokens", self.Ratio()},
                      {"lazy_fixed_limits_ratio", lazy_fixed / sum[0]},
                      {"target", std::string(g.strict ? "< " : "<= ") + std::to_string(g.target)},
                      {"met", met}});
  }
}

int Bench::Run(const std::string& json_path, const std::string& commit) {
  cudaDeviceProp prop{};
  if (Failed(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  int driver = 0;
  cudaDriverGetVersion(&driver);
  std::printf("device: %s, %d SMs, L2 %d MB, driver API %d\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, driver);
  ws_ = OrDie(DequantWorkspace::Create(c10::Device(c10::kCUDA, 0), int64_t{2} * 14336 * 3072));
  CopyRoofline();
  const double first_copy_gbps = copy_gbps_;
  for (const Shape& s : kShapes) {
    try {
      MeasureShape(s);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shape %lldx%lld aborted: %s\n", (long long)s.out, (long long)s.in,
                   e.what());
    }
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
  Goals();
  if (json_path.empty()) return 0;
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const json j = {{"card", prop.name},
                  {"sms", prop.multiProcessorCount},
                  {"l2_mb", prop.l2CacheSize >> 20},
                  {"cuda_driver_api", driver},
                  {"date", date},
                  {"commit", commit},
                  {"copy_gbps", first_copy_gbps},
                  {"rotate_bytes", kRotateBytes},
                  {"dequant", dequant_},
                  {"checks", checks_},
                  {"linear", linear_},
                  {"goals", goals_}};
  std::ofstream(json_path) << j.dump(1) << "\n";
  std::printf("\nwrote %s\n", json_path.c_str());
  return 0;
}

// --cpu-check: the baseline against the engine's reference dequantizer on the CPU (no GPU).
int CpuCheck() {
  int bad = 0;
  for (const GgmlType t : kTypes) {
    const at::Tensor raw = RandomBlocks(t, 64, 512, at::kCPU);
    const QuantizedTensor q = OrDie(QuantizedTensor::FromBlocks("w", t, {64, 512}, raw));
    const at::Tensor ref = OrDie(q.Dequantize(at::kFloat));
    const at::Tensor c = ComfyDequantize(t, raw, 64, 512, at::kFloat);
    const double rel = c.sub(ref).norm().item<double>() / ref.norm().item<double>();
    std::printf("cpu check %s: comfy vs ovid relerr %.3e\n", GgmlTypeName(t), rel);
    bad += !(rel < 5e-3);
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ovid::bench

int main(int argc, char** argv) {
  std::string json_path, commit = "uncommitted";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--commit") && i + 1 < argc) {
      commit = argv[++i];
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    }
  }
  if (argc > 1 && !std::strcmp(argv[1], "--cpu-check")) return ovid::bench::CpuCheck();
  if (c10::cuda::device_count() == 0) {
    std::printf("no CUDA device\n");
    return 1;
  }
  try {
    return ovid::bench::Bench(quick).Run(json_path, commit);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovid-bench-gpu: %s\n", e.what());
    return 1;
  }
}
