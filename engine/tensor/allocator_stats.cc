// File: engine/tensor/allocator_stats.cc
// The one TU that reads LibTorch's CUDA caching allocator statistics.
#include "engine/tensor/vram_accounting.h"

#ifdef OVID_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace ovid {

AllocatorStats QueryAllocatorStats(int device_index) {
  AllocatorStats out;
#ifdef OVID_TORCH_CUDA
  try {
    if (device_index < 0 || device_index >= c10::cuda::device_count()) return out;
    const c10::CachingDeviceAllocator::DeviceStats stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(
            static_cast<c10::DeviceIndex>(device_index));
    // Index 0 of each StatArray is the aggregate over small and large pools.
    out.allocated = stats.allocated_bytes[0].current;
    out.reserved = stats.reserved_bytes[0].current;
    out.peak_allocated = stats.allocated_bytes[0].peak;
    out.valid = true;
  } catch (const std::exception&) {
    // No driver or no device: report nothing rather than fail a log line.
  }
#endif
  return out;
}

}  // namespace ovid
