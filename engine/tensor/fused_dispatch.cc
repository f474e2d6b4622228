// File: engine/tensor/fused_dispatch.cc
#include "engine/tensor/fused_dispatch.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/randn.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/ops/gpu_timer.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "engine/tensor/quantized_linear.h"

namespace ovid {
namespace {

// Weights and their bf16 copies rotate over this many bytes each, more than twice an H200's
// 50 MB L2: in a forward pass each layer's weight is read once, cold, so a measurement that
// read the same blocks from L2 call after call would flatter the path that reads less.
constexpr int64_t kRotateBytes = int64_t{128} << 20;
constexpr int kBatches = 5;

int Copies(int64_t bytes) {
  return static_cast<int>(std::clamp<int64_t>((kRotateBytes + bytes - 1) / bytes, 2, 64));
}

// Calls per batch for a call of about `us`: batches of ~0.4 ms, 2 to 12 calls.
int CallsFor(double us) { return std::clamp(static_cast<int>(400.0 / std::max(us, 1.0)), 2, 12); }

// A rough time for batch sizing only: the GEMM at ~400 TFLOP/s or the weight's traffic at
// ~3 TB/s, whichever is longer.
double RoughMicros(const LinearShape& s, int64_t tokens, int64_t block_bytes) {
  const double flops = 2.0 * static_cast<double>(tokens) * s.out * s.in;
  const double bytes = static_cast<double>(block_bytes) + 2.0 * s.out * s.in;
  return std::max(flops / 4e8, bytes / 3e6);
}

std::vector<int64_t> CountsToMeasure(const std::vector<int64_t>& model_counts) {
  std::set<int64_t> counts(std::begin(kDispatchLadder), std::end(kDispatchLadder));
  for (int64_t t : model_counts) {
    if (t > 0 && t <= kDispatchMaxTokens) counts.insert(t);
  }
  return {counts.begin(), counts.end()};
}

absl::StatusOr<std::vector<DispatchPoint>> MeasureShape(const QuantizedTensor& q,
                                                        const std::vector<int64_t>& counts,
                                                        bool gelu, int64_t fixed_max_tokens) {
  const LinearShape s{q.type(), q.shape()[0], q.shape()[1]};
  const LinearActivation activation = gelu ? LinearActivation::kGeluTanh : LinearActivation::kNone;
  return ops::GuardTorch(
      "measuring the fused dispatch", [&]() -> absl::StatusOr<std::vector<DispatchPoint>> {
        // The timer records on the current device's stream: make that the weights' device
        // (a store on "cuda:1" loaded from a thread whose current device is 0).
        const c10::DeviceGuard on_weights_device(q.device());
        const bool fused = ops::HasFusedMatmul(s.type);  // asks the current device
        const auto on_device = at::TensorOptions().device(q.device());
        std::vector<at::Tensor> blocks{q.blocks()};
        for (int i = 1; i < Copies(q.nbytes()); ++i) blocks.push_back(q.blocks().clone());
        std::vector<at::Tensor> dense;
        for (int i = 0; i < Copies(2 * q.numel()); ++i) {
          dense.push_back(at::empty({s.out, s.in}, on_device.dtype(at::kBFloat16)));
          absl::Status st = ops::DequantizeInto(s.type, q.blocks(), s.out, s.in, dense.back());
          if (!st.ok()) return st;
        }
        const at::Tensor x_all = at::randn({counts.back(), s.in}, on_device.dtype(at::kBFloat16));
        const at::Tensor bias = at::randn({s.out}, on_device.dtype(at::kBFloat16));
        std::vector<DispatchPoint> points;
        for (int64_t tokens : counts) {
          const at::Tensor x = x_all.narrow(0, 0, tokens);
          const int calls = CallsFor(RoughMicros(s, tokens, q.nbytes()));
          const int nb = static_cast<int>(blocks.size());
          const int nd = static_cast<int>(dense.size());
          std::vector<ops::TimedMethod> methods = {
              {[&](int v) {
                 ops::ThrowIfError(ops::DequantizeInto(s.type, blocks[v % nb], s.out, s.in,
                                                       dense[v % nd], ops::DequantUse::kReadNext));
                 (void)GemmActivation(x, dense[v % nd], bias, activation);
               },
               std::max(nb, nd), calls},
              {[&](int v) { (void)GemmActivation(x, dense[v], bias, activation); }, nd, calls},
          };
          if (fused) {
            // As QuantizedLinear::Forward runs it: the kernel, then the GELU as a pass of its own.
            methods.push_back({[&](int v) {
                                 const at::Tensor y = ops::ValueOrThrow(ops::FusedQuantMatmul(
                                     x, s.type, blocks[v], s.out, s.in, bias));
                                 if (gelu) (void)at::gelu(y, "tanh");
                               },
                               nb, calls});
          }
          absl::StatusOr<std::vector<ops::GpuTiming>> t = ops::TimeInterleaved(methods, kBatches);
          if (!t.ok()) return t.status();
          DispatchPoint p;
          p.tokens = tokens;
          p.dequant_gemm_us = (*t)[0].gpu_us;
          p.dense_us = (*t)[1].gpu_us;
          if (fused) p.fused_us = (*t)[2].gpu_us;
          p.fixed_fuses = fused && tokens <= fixed_max_tokens;
          points.push_back(p);
        }
        return points;
      });
}

// The faster path at one measured count; within kDispatchTieMargin, the fixed limits' choice.
bool FusedWins(const DispatchPoint& p) {
  if (p.fused_us < 0 || p.dequant_gemm_us < 0) return false;
  return p.fixed_fuses ? p.fused_us < p.dequant_gemm_us * (1 + kDispatchTieMargin)
                       : p.fused_us * (1 + kDispatchTieMargin) < p.dequant_gemm_us;
}

}  // namespace

std::string LinearShapeName(const LinearShape& shape) {
  return absl::StrCat(GgmlTypeName(shape.type), " [", shape.out, " x ", shape.in, "]");
}

void FusedDispatch::Set(const LinearShape& shape, std::vector<DispatchPoint> points, bool gelu) {
  gelu_[shape] = gelu;
  std::sort(points.begin(), points.end(),
            [](const DispatchPoint& a, const DispatchPoint& b) { return a.tokens < b.tokens; });
  points_[shape] = std::move(points);
}

std::optional<bool> FusedDispatch::Fuses(const LinearShape& shape, int64_t tokens) const {
  auto it = points_.find(shape);
  if (it == points_.end()) return std::nullopt;
  for (const DispatchPoint& p : it->second) {  // sorted by tokens
    if (p.tokens >= tokens) return FusedWins(p);
  }
  return false;
}

std::optional<double> FusedDispatch::SavedSecondsByDenseCopy(const LinearShape& shape,
                                                             int64_t tokens) const {
  auto it = points_.find(shape);
  if (it == points_.end()) return std::nullopt;
  for (const DispatchPoint& p : it->second) {
    if (p.tokens != tokens || p.dense_us < 0 || p.dequant_gemm_us < 0) continue;
    const double taken = FusedWins(p) ? p.fused_us : p.dequant_gemm_us;
    return std::max(0.0, taken - p.dense_us) * 1e-6;
  }
  return std::nullopt;
}

std::vector<std::string> FusedDispatch::SummaryLines() const {
  std::vector<std::string> lines;
  for (const auto& [shape, points] : points_) {
    std::vector<int64_t> fused;
    for (const DispatchPoint& p : points) {
      if (FusedWins(p)) fused.push_back(p.tokens);
    }
    std::string line = absl::StrCat(
        LinearShapeName(shape), ": fused at ", fused.empty() ? "no" : absl::StrJoin(fused, ","),
        " tokens; us fused/dequant+gemm/bf16", gelu_.at(shape) ? " (each with its GELU)" : "");
    for (const DispatchPoint& p : points) {
      absl::StrAppendFormat(&line, " @%d %.1f/%.1f/%.1f", p.tokens, p.fused_us, p.dequant_gemm_us,
                            p.dense_us);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

absl::StatusOr<FusedDispatch> MeasureFusedDispatch(const std::vector<DispatchTarget>& targets) {
  FusedDispatch dispatch;
  for (const DispatchTarget& t : targets) {
    if (t.weight == nullptr || t.weight->shape().size() != 2) {
      return absl::InvalidArgumentError("a dispatch target needs a 2-D quantized weight");
    }
    if (!t.weight->device().is_cuda()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the fused dispatch is measured on CUDA only; '", t.weight->name(),
                       "' is on ", t.weight->device().str()));
    }
    const LinearShape shape{t.weight->type(), t.weight->shape()[0], t.weight->shape()[1]};
    absl::StatusOr<std::vector<DispatchPoint>> points =
        MeasureShape(*t.weight, CountsToMeasure(t.tokens), t.gelu, t.fixed_max_tokens);
    if (!points.ok()) {
      return absl::Status(points.status().code(),
                          absl::StrCat(LinearShapeName(shape), " ('", t.weight->name(),
                                       "'): ", points.status().message()));
    }
    dispatch.Set(shape, *std::move(points), t.gelu);
  }
  return dispatch;
}

}  // namespace ovid
