// Kernel-level profile of one forward pass, through LibTorch's Kineto profiler (CUPTI): which
// GPU kernels the pass spends its time in. nsys is not available on the GPU machine; this is.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::tools {

// Starts collecting CPU ops and CUDA kernels for the calling thread.
absl::Status StartKernelProfile();

// Stops collecting. Writes a Chrome trace to trace_path (when not empty) and returns a table of
// the `top` GPU kernels by summed time, with the share of each kernel family (GEMM, attention,
// ovid's own kernels, the rest) in the total kernel time.
absl::StatusOr<std::string> StopKernelProfile(const std::string& trace_path, int top);

}  // namespace ovid::tools
