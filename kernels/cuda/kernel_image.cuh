// File: kernels/cuda/kernel_image.cuh
// Whether this build's kernels have code for the current device. They are compiled as SASS for
// the OVID_CUDA_ARCHS list only (no PTX to JIT), so on a card outside it (a Blackwell, compute
// capability 10.x or 12.x, with the default list) every launch fails with
// cudaErrorNoKernelImageForDevice: better one clear refusal at load than a failure in every layer.
#pragma once

#include <cuda_runtime.h>

namespace ovid {

// cudaSuccess when the current device can run this build's kernels; otherwise the error a launch
// would meet (cudaErrorNoKernelImageForDevice, or the device query's own error).
cudaError_t CudaKernelsRunHere();

}  // namespace ovid
