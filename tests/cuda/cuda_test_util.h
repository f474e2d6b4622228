// File: tests/cuda/cuda_test_util.h
// Helpers for the GPU kernel tests: GPU presence (tests skip without one), device buffers,
// and random GGML blocks with finite scales.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"

namespace ovid::testing {

// Empty when a CUDA device is usable; otherwise the reason, for GTEST_SKIP().
std::string NoGpuReason();

#define OVID_REQUIRE_GPU()                                  \
  do {                                                      \
    const std::string why = ::ovid::testing::NoGpuReason(); \
    if (!why.empty()) GTEST_SKIP() << why;                  \
  } while (0)

// Owns a device allocation; copies to and from host vectors.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  void Upload(const void* src, size_t bytes);
  void Download(void* dst, size_t bytes) const;
  void Fill(int byte);

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// `n_blocks` random blocks of `type`: random quant bytes, scale fields set to finite halves
// with |d| <= scale_max (random f32/f16/bf16 values for the float types). With `specials`,
// a few blocks get Inf or subnormal scales.
std::vector<uint8_t> RandomBlocks(GgmlType type, int64_t n_blocks, std::mt19937& rng,
                                  float scale_max, bool specials);

// Random bf16 values (bits) in [-1, 1].
std::vector<uint16_t> RandomBf16(int64_t n, std::mt19937& rng);

}  // namespace ovid::testing
