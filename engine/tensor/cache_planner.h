// File: engine/tensor/cache_planner.h
// Chooses which quantized layers get a resident dense (bf16) copy in LinearMode::kCache.
//
// Keeping a dense copy of a layer saves its dequantize on every dequantize+GEMM forward and
// costs 2 bytes per weight of VRAM. Given a budget, the plan maximises the time saved: layers are
// taken in order of estimated saved seconds per cached byte (the greedy fractional-knapsack
// order, skipping those that no longer fit).
//
// Where the load measured the layer's shape at its token count (FusedDispatch), the saving is
// that measurement: the time of the path it takes (fused or dequantize + GEMM) minus a bf16
// GEMM's. Elsewhere (token counts too large to measure) it is an analytic model: a dequantize
// kernel is bound by memory traffic (it reads the blocks once and writes 2 bytes per weight)
// plus a fixed launch cost, so
//   seconds = launch_seconds + decode_factor(type) * (block_bytes + 2 * elements) / bandwidth
// decode_factor > 1 for formats whose unpacking may cost more than their traffic. Measured on
// an H200, Q4_K, Q6_K and Q8_0 all ran at the same traffic rate (factor 1); Q2_K, Q3_K and Q5_K
// (split scales, high bits in a second array) are unmeasured estimates. Per byte of cache that
// favours small layers (the launch cost is spread over fewer bytes) and expensive formats, which is
// where a copy saves most. A benchmark can replace the model per type with measured seconds per
// weight (CostModel::measured_seconds_per_element).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"

namespace ovid {

struct CacheCandidate {
  std::string name;
  GgmlType type = GgmlType::kQ4_K;
  int64_t elements = 0;             // weights in the layer
  int64_t block_bytes = 0;          // resident quantized bytes
  double calls_per_step = 1;        // forwards per denoising step that take the dequantize path
  int64_t dense_element_bytes = 2;  // of the cached copy: 2 in bf16/f16, 4 in f32 (the CPU)
  // Seconds one forward saves with a copy, measured on this card (FusedDispatch); < 0: not
  // measured, use the CostModel's dequantize estimate.
  double measured_saved_seconds = -1;
};

// How a model runs one linear weight, for the planner: without it every layer counts as one
// dequantize per step, and equal layers tie, so file (name) order would pick them.
struct LayerUsage {
  int64_t tokens = 0;         // rows of input per forward; 0: unknown (assume it dequantizes)
  double calls_per_step = 1;  // forwards per denoising step; 1/steps for once-per-request layers
  // The layer's output goes through tanh-GELU (the FFN's first layer): a dense GEMM folds it into
  // its epilogue, the fused kernel needs a pass of its own, so the dispatch times it that way.
  bool gelu = false;
  // The step's forwards run as one call of all their rows (both guidance passes in one batch):
  // one dequantize per step instead of calls_per_step, and the path of the summed token count.
  bool passes_in_one_call = false;
};

// How a step runs the layer: `calls` forwards of `tokens` rows each.
struct StepCalls {
  int64_t tokens = 0;
  double calls = 0;
};
inline StepCalls StepCallsOf(const LayerUsage& u) {
  if (u.passes_in_one_call && u.calls_per_step > 1) {
    return {static_cast<int64_t>(static_cast<double>(u.tokens) * u.calls_per_step + 0.5), 1.0};
  }
  return {u.tokens, u.calls_per_step};
}

struct CostModel {
  // Effective traffic rate of the CUDA dequantize kernels: 2.6-3.4 TB/s measured on an H200
  // (ovid-bench-linear, Q4_K/Q6_K/Q8_0, 9.4M- and 44M-weight layers); an H100 has ~70% of the
  // H200's bandwidth, so 2.5 TB/s is a middle value.
  double bandwidth_bytes_per_second = 2.5e12;
  double launch_seconds = 4e-6;
  // Measured seconds per weight for a type (from bench/); overrides the analytic model.
  std::map<GgmlType, double> measured_seconds_per_element;
};

// Multiplier on the traffic time for unpacking cost; 1 for plain 4/8-bit formats.
double DecodeFactor(GgmlType type);

// Estimated seconds one dequantize of `c` takes (times calls_per_step); the measured saving
// instead where `c` has one.
double EstimatedDequantSeconds(const CacheCandidate& c, const CostModel& model);

// Dense bytes a cached copy of `c` costs, in the compute dtype it is kept in.
inline int64_t CacheBytes(const CacheCandidate& c) { return c.dense_element_bytes * c.elements; }

struct CachePlan {
  std::vector<size_t> chosen;  // indices into the candidates, best first
  int64_t bytes = 0;
  double saved_seconds_per_step = 0;
};

CachePlan PlanCache(const std::vector<CacheCandidate>& candidates, int64_t budget_bytes,
                    const CostModel& model = {});

}  // namespace ovid
