// File: bench/gpu/gpu_timer.h
// The benchmarks' view of engine/ops/gpu_timer.h (spin kernel, CUDA events, shuffled rounds,
// medians): the same timing, with errors thrown as std::runtime_error so that one failed
// measurement can be caught and reported without losing the others.
#pragma once

#include <functional>
#include <vector>

#include "engine/ops/gpu_timer.h"

namespace ovid::bench {

using Timing = ops::GpuTiming;
using TimedMethod = ops::TimedMethod;

// ops::TimeInterleaved; throws std::runtime_error on a failure.
std::vector<Timing> TimeMethods(const std::vector<TimedMethod>& methods, int batches = 7);

// One method on its own.
Timing TimeCalls(const std::function<void(int variant)>& fn, int variants, int calls,
                 int batches = 7);

}  // namespace ovid::bench
