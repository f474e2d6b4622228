// File: engine/tensor/fused_dispatch.h
// Which path a lazy quantized linear takes on this card: the fused kernel that reads the GGUF
// blocks, or dequantize into the workspace + cuBLAS. Measured at load.
//
// Why measure: the fixed per-type limits (LinearOptions::fused_max_tokens_by_type) were set on
// an H100, and where the fused kernel stops winning depends on the card. On an H200 the 43%
// faster memory speeds up the bf16 GEMM's weight read but not the fused kernel's fixed costs,
// so Q6_K at 314 tokens is faster dequantized there (bench/NOTES.md, "Issue 3's targets on the
// H200"). MeasureFusedDispatch times both paths, plus cuBLAS on a bf16 copy of the weight (the
// cache mode's path), for each distinct (type, out, in) of the model's linear layers, at the
// token counts the model runs them at and at a fixed ladder in between, on copies of one layer's
// blocks (rotated so that none is read from L2).
//
// The choice is made per measured token count: the faster path there, or the fixed limits' one
// where the two are within kDispatchTieMargin. The two paths' costs are
// not monotonic in the token count (each steps up where its tiles do: on an H200 the fused
// kernel lost narrowly to dequantize + cuBLAS at 256 tokens for Q4_K [3072, 3072] and won
// again at 314, where cuBLAS changes tiles), so no single limit fits. A count between two
// measured ones follows the next larger measured count, whose tiles it shares or undercuts;
// a count above the largest measured one dequantizes, as every count above
// kDispatchMaxTokens does. The model's own counts are measured exactly. Both paths give the
// dequantized model's output within bf16 rounding (tests/engine/quantized_linear_test.cc), not
// bit for bit: the tie margin keeps a near tie from choosing differently on each load (a pair
// of paths about kDispatchTieMargin apart can still flip), and only --fused-dispatch=fixed
// guarantees the same bits on every load and card.
//
// Every path is timed with a bias, as Ovi's layers have: cuBLAS adds it in its epilogue (or
// as addmm), the fused kernel in its own, and leaving it out moved cuBLAS's time at [3072,
// 14336] by up to 20% on an H200. A shape whose layers feed a GELU is timed with it
// (DispatchTarget::gelu). The measurement runs on the weights' device, whatever the caller's
// current device is.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor/quantized_tensor.h"
#include "kernels/ggml_types.h"

namespace ovid {

struct LinearShape {
  GgmlType type = GgmlType::kQ4_K;
  int64_t out = 0;  // output features (weight rows)
  int64_t in = 0;   // input features (K)
  auto operator<=>(const LinearShape&) const = default;
};
std::string LinearShapeName(const LinearShape& shape);  // "q4_K [3072 x 3072]"

// GPU microseconds per forward at one token count; -1 where a path was not measured.
struct DispatchPoint {
  int64_t tokens = 0;
  double fused_us = -1;         // the fused kernel
  double dequant_gemm_us = -1;  // dequantize into a workspace, then cuBLAS
  double dense_us = -1;         // cuBLAS on a bf16 copy (the cache mode's path)
  bool fixed_fuses = false;     // what the fixed per-type limits choose here (the tie-breaker)
};

// Two paths within this fraction of each other are a tie, and a tie takes the fixed limits'
// choice: measured again (another load, another replica) a near tie would fall either way, and
// the paths' outputs are equal only within bf16 rounding, so the same request could come out
// with other bits after a restart. 5% is above the spread of one path's time between loads, so
// flips become rare, not impossible (a ratio near 1.05 can still fall either way). A count
// between measured ones takes the tie-break of the next larger measured count, as its path.
inline constexpr double kDispatchTieMargin = 0.05;

// Token counts measured for every shape besides the model's own, so that a request size the
// model's usage did not name still falls between measured points.
inline constexpr int64_t kDispatchLadder[] = {16, 64, 128, 256, 512};
// Larger token counts are never measured: the fused kernels lose there on every card measured
// (a bf16 GEMM is past the ridge point and no longer waits on the weight read).
inline constexpr int64_t kDispatchMaxTokens = 1024;

class FusedDispatch {
 public:
  // Adds (or replaces) a shape's measurements, in any order; `gelu`: timed with the layers'
  // tanh-GELU (DispatchTarget::gelu), which the summary says.
  void Set(const LinearShape& shape, std::vector<DispatchPoint> points, bool gelu = false);
  bool Has(const LinearShape& shape) const { return points_.contains(shape); }

  // Whether `tokens` rows take the fused kernel: the decision at the smallest measured count
  // >= tokens (false above the largest). nullopt for a shape that was not measured.
  std::optional<bool> Fuses(const LinearShape& shape, int64_t tokens) const;
  // Seconds per forward that a bf16 copy saves at exactly `tokens`: the measured time of the
  // path the dispatch takes minus the dense GEMM's, at least 0. nullopt where not measured.
  std::optional<double> SavedSecondsByDenseCopy(const LinearShape& shape, int64_t tokens) const;

  const std::map<LinearShape, std::vector<DispatchPoint>>& points() const { return points_; }
  // One line per shape: the counts it fuses at and its measured points (for the load log).
  std::vector<std::string> SummaryLines() const;

 private:
  std::map<LinearShape, std::vector<DispatchPoint>> points_;  // sorted by tokens
  std::map<LinearShape, bool> gelu_;
};

// One shape to measure: any layer of that shape (its resident blocks are what is timed) and the
// token counts the model runs that shape at.
struct DispatchTarget {
  std::shared_ptr<const QuantizedTensor> weight;
  std::vector<int64_t> tokens;
  // Time the layer with its tanh-GELU: the fused kernel then pays a pass of its own, which the
  // dense GEMMs fold into their epilogue (4-6 us at 314 x 14336 on an H200, inside the margin
  // of some ties). A shape shared by layers with and without one is timed with it (in Ovi only
  // ffn.0 has its shape).
  bool gelu = false;
  // The fixed limits' choice (LinearOptions::FusedMaxTokens): fused up to this count. Breaks
  // ties (kDispatchTieMargin); 0: they dequantize.
  int64_t fixed_max_tokens = 0;
};

// Times the paths of every target on the weights' CUDA device, on the current stream. Needs a
// transient bf16 buffer of the largest weight plus the activations. Types without a fused
// kernel are measured without one (every count then dequantizes). Errors: FAILED_PRECONDITION
// off CUDA, RESOURCE_EXHAUSTED when the buffers do not fit, INTERNAL on a CUDA error.
absl::StatusOr<FusedDispatch> MeasureFusedDispatch(const std::vector<DispatchTarget>& targets);

}  // namespace ovid
