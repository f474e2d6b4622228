// File: bench/gpu/gpu_timer.h
// GPU time of a batch of calls that each enqueue several ATen ops. A layer's forward launches a
// handful of kernels and costs tens of microseconds of host time, as much as the GPU spends on
// a small layer, so back-to-back timing would measure the host. Each batch therefore starts with
// a spin kernel (at::cuda::sleep) long enough for the host to queue the whole batch behind it;
// the events around the batch then see only GPU work and whatever waits the calls themselves
// force (the ComfyUI-style baseline synchronizes the stream in every call, as ComfyUI does).
#pragma once

#include <functional>
#include <vector>

namespace ovid::bench {

struct Timing {
  double gpu_us;   // median over batches of GPU time per call
  double host_us;  // median over batches of host enqueue time per call
};

// One method for TimeInterleaved: fn(variant) cycles through `variants` input sets, `calls`
// calls per batch.
struct TimedMethod {
  std::function<void(int variant)> fn;
  int variants = 1;
  int calls = 1;
};

// Two warm-up rounds, then `batches` rounds; a round runs one batch of every method in turn, so
// the methods share the card's clock and power state: a drift during the run moves them all
// alike instead of favouring whichever method ran while the card was fast (ratios to a bf16
// baseline timed minutes apart moved by up to +-5%). Each round shuffles the order (fixed seed),
// so no method always follows the same one. Throws std::runtime_error when a CUDA call fails.
std::vector<Timing> TimeInterleaved(const std::vector<TimedMethod>& methods, int batches = 7);

// One method on its own.
Timing TimeCalls(const std::function<void(int variant)>& fn, int variants, int calls,
                 int batches = 7);

}  // namespace ovid::bench
