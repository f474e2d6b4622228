// File: bench/gpu/gpu_timer.cc
#include "bench/gpu/gpu_timer.h"

#include <stdexcept>
#include <string>

namespace ovid::bench {

std::vector<Timing> TimeMethods(const std::vector<TimedMethod>& methods, int batches) {
  absl::StatusOr<std::vector<Timing>> t = ops::TimeInterleaved(methods, batches);
  if (!t.ok()) throw std::runtime_error(std::string(t.status().message()));
  return *std::move(t);
}

Timing TimeCalls(const std::function<void(int)>& fn, int variants, int calls, int batches) {
  return TimeMethods({{fn, variants, calls}}, batches)[0];
}

}  // namespace ovid::bench
