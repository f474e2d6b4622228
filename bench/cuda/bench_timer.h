// File: bench/cuda/bench_timer.h
// Timing with CUDA events: warm-up batches, then the median over batches of the mean time per
// launch. Each batch cycles through `variants` input sets so repeated runs do not just measure
// the 50 MB L2 cache.
#pragma once

#include <cuda_runtime.h>

#include <functional>

namespace ovid::bench {

// Returns microseconds per call of enqueue(variant) on `stream`, or a negative value when a
// CUDA call failed (the error is printed).
double MedianMicros(const std::function<cudaError_t(int variant)>& enqueue, int variants,
                    cudaStream_t stream, int calls_per_batch = 20, int batches = 9);

// Prints "<what>: <error>" and returns true when err is not cudaSuccess.
bool Failed(cudaError_t err, const char* what);

}  // namespace ovid::bench
