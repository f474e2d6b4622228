// File: engine/pipeline/device_util.h
// The pipeline's few direct dealings with the device: which device an options string means,
// the memory figures for Vram(), the per-job peak counter, the allocator cache, and telling a
// sticky CUDA error (the context is lost; only a new process recovers) from a passing one.
// Everything here is a no-op or zero on the CPU and in builds without CUDA LibTorch.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/Stream.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace ovid::pipeline {

// "auto" (CUDA device 0 if one is present, else the CPU), "cpu", "cuda", "cuda:N".
// INVALID_ARGUMENT for other strings, FAILED_PRECONDITION for CUDA without a device.
absl::StatusOr<c10::Device> ResolveDevice(const std::string& spec);

// "cpu", "cuda:0" (always with the index).
std::string DeviceName(c10::Device device);

// cudaMemGetInfo for the device (no synchronization); nullopt on the CPU or on failure.
struct DeviceMemory {
  uint64_t total = 0;
  uint64_t used = 0;  // total - free: every process on the device, not just this one
};
std::optional<DeviceMemory> QueryDeviceMemory(c10::Device device);

// The caching allocator's peak counter back to the current allocation (CUDA only).
void ResetPeakAllocated(c10::Device device);
// Returns cached, unused blocks to the driver (CUDA only; blocks in use stay).
void ReleaseCachedMemory(c10::Device device);

// After a failed job: true if the device is in a sticky error state (an illegal address, a
// launch failure, ...): the error survives cudaGetLastError() and shows again on the next
// synchronize of `stream` (null: the default stream). False on the CPU.
bool DeviceHasStickyError(c10::Device device, const c10::Stream* stream);

// A stream of LibTorch's CUDA pool for one worker (nullopt on the CPU).
std::optional<c10::Stream> NewWorkerStream(c10::Device device);

}  // namespace ovid::pipeline
