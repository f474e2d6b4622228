// File: engine/pipeline/device_util.cc
#include "engine/pipeline/device_util.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#if defined(OVID_TORCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace ovid::pipeline {
namespace {

int CudaDeviceCount() {
#if defined(OVID_TORCH_CUDA)
  try {
    return static_cast<int>(c10::cuda::device_count());
  } catch (const std::exception&) {
    return 0;  // no driver: no device
  }
#else
  return 0;
#endif
}

}  // namespace

absl::StatusOr<c10::Device> ResolveDevice(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  const int count = CudaDeviceCount();
  if (spec == "auto" || spec.empty()) {
    return count > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  int index = 0;
  if (spec != "cuda") {
    if (!absl::StartsWith(spec, "cuda:") || !absl::SimpleAtoi(spec.substr(5), &index) ||
        index < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got \"", spec, "\""));
    }
  }
  if (index >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("device ", spec, ": this machine has ", count, " CUDA device(s)"));
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string DeviceName(c10::Device device) {
  if (!device.is_cuda()) return "cpu";
  return absl::StrCat("cuda:", device.has_index() ? device.index() : 0);
}

std::optional<DeviceMemory> QueryDeviceMemory(c10::Device device) {
#if defined(OVID_TORCH_CUDA)
  if (!device.is_cuda()) return std::nullopt;
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return std::nullopt;
  const int index = device.has_index() ? device.index() : 0;
  if (index != previous && cudaSetDevice(index) != cudaSuccess) return std::nullopt;
  size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t err = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (index != previous) cudaSetDevice(previous);
  if (err != cudaSuccess) {
    cudaGetLastError();  // a failed query must not look like a job's error later
    return std::nullopt;
  }
  return DeviceMemory{total_bytes, total_bytes - free_bytes};
#else
  return std::nullopt;
#endif
}

void ResetPeakAllocated(c10::Device device) {
#if defined(OVID_TORCH_CUDA)
  if (!device.is_cuda()) return;
  try {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
  } catch (const std::exception&) {
  }
#endif
}

void ReleaseCachedMemory(c10::Device device) {
#if defined(OVID_TORCH_CUDA)
  if (!device.is_cuda()) return;
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const std::exception&) {
  }
#endif
}

bool DeviceHasStickyError(c10::Device device, const c10::Stream* stream) {
#if defined(OVID_TORCH_CUDA)
  if (!device.is_cuda()) return false;
  // A passing error (a bad launch configuration, an OOM) is cleared by this call; a sticky one
  // stays set and comes back from the synchronize below.
  cudaGetLastError();
  cudaStream_t raw = nullptr;
  if (stream != nullptr && stream->device_type() == c10::DeviceType::CUDA) {
    raw = c10::cuda::CUDAStream(*stream).stream();
  }
  const cudaError_t sync = cudaStreamSynchronize(raw);
  const cudaError_t last = cudaGetLastError();
  return sync != cudaSuccess || last != cudaSuccess;
#else
  return false;
#endif
}

std::optional<c10::Stream> NewWorkerStream(c10::Device device) {
#if defined(OVID_TORCH_CUDA)
  if (!device.is_cuda()) return std::nullopt;
  return c10::cuda::getStreamFromPool(/*isHighPriority=*/false,
                                      device.has_index() ? device.index() : 0)
      .unwrap();
#else
  return std::nullopt;
#endif
}

}  // namespace ovid::pipeline
