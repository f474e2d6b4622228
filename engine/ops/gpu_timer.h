// File: engine/ops/gpu_timer.h
// GPU time of batches of calls that each enqueue a few ATen ops or kernels.
//
// A small layer's forward costs the host about as much time to enqueue as the GPU takes to run
// it, so timing calls back to back would measure the host. Each batch therefore starts with a
// spin kernel (at::cuda::sleep) long enough for the host to queue the whole batch behind it; the
// CUDA events around the batch then see only GPU work. During generation the host runs ahead
// of the GPU in the same way, so this is the time a layer costs there.
//
// Used at load (MeasureFusedDispatch: fused kernel or dequantize + cuBLAS, per card) and by
// the benchmarks (bench/gpu).
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"

namespace ovid::ops {

struct GpuTiming {
  double gpu_us = 0;   // median over batches of GPU time per call
  double host_us = 0;  // median over batches of host enqueue time per call
};

// One method for TimeInterleaved: fn(variant) cycles through `variants` input sets, `calls`
// calls per batch. fn may throw (LibTorch style); the error comes back as the Status.
struct TimedMethod {
  std::function<void(int variant)> fn;
  int variants = 1;
  int calls = 1;
};

// Two warm-up rounds, then `batches` rounds on the current CUDA stream; a round runs one batch
// of every method in turn, so the methods share the card's clock and power state: a drift
// during the run moves them all alike instead of favouring whichever method ran while the card
// was fast (ratios to a baseline timed minutes apart moved by up to +-5%). Each round shuffles
// the order (fixed seed), so no method always follows the same one. FAILED_PRECONDITION in a
// build without CUDA; a CUDA error or whatever fn threw, as a Status.
absl::StatusOr<std::vector<GpuTiming>> TimeInterleaved(const std::vector<TimedMethod>& methods,
                                                       int batches = 7);

}  // namespace ovid::ops
