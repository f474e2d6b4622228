// File: bench/gpu/gpu_timer.h
// GPU time of a batch of calls that each enqueue several ATen ops. A layer's forward launches a
// handful of kernels and costs tens of microseconds of host time, as much as the GPU spends on
// a small layer, so back-to-back timing would measure the host. Each batch therefore starts with
// a spin kernel (at::cuda::sleep) long enough for the host to queue the whole batch behind it;
// the events around the batch then see only GPU work and whatever waits the calls themselves
// force (the ComfyUI-style baseline synchronizes the stream in every call, as ComfyUI does).
#pragma once

#include <functional>

namespace ovid::bench {

struct Timing {
  double gpu_us;   // median over batches of GPU time per call
  double host_us;  // median over batches of host enqueue time per call
};

// Two warm-up batches, then `batches` batches of `calls` calls; fn(variant) cycles through
// `variants` input sets. Throws std::runtime_error when a CUDA call fails.
Timing TimeCalls(const std::function<void(int variant)>& fn, int variants, int calls,
                 int batches = 7);

}  // namespace ovid::bench
