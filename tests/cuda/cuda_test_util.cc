// File: tests/cuda/cuda_test_util.cc
#include "tests/cuda/cuda_test_util.h"

#include <cstring>

#include "kernels/block_scales.h"
#include "kernels/fp16.h"

namespace ovid::testing {

std::string NoGpuReason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return std::string("no CUDA device: ") + cudaGetErrorString(err);
  }
  if (count == 0) return "no CUDA device: device count is 0";
  return "";
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (cudaMalloc(&ptr_, bytes == 0 ? 16 : bytes) != cudaSuccess) ptr_ = nullptr;
}
DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}
void DeviceBuffer::Upload(const void* src, size_t bytes) {
  cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice);
}
void DeviceBuffer::Download(void* dst, size_t bytes) const {
  cudaMemcpy(dst, ptr_, bytes, cudaMemcpyDeviceToHost);
}
void DeviceBuffer::Fill(int byte) { cudaMemset(ptr_, byte, bytes_); }

namespace {


void PutU16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }

}  // namespace

std::vector<uint8_t> RandomBlocks(GgmlType type, int64_t n_blocks, std::mt19937& rng,
                                  float scale_max, bool specials) {
  const GgmlTypeInfo& info = GgmlInfo(type);
  std::vector<uint8_t> out(static_cast<size_t>(n_blocks * info.type_size));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
  if (type == GgmlType::kF32) {
    for (int64_t i = 0; i < n_blocks; ++i) {
      const float f = uni(rng) * scale_max;
      memcpy(&out[i * 4], &f, 4);
    }
    return out;
  }
  if (type == GgmlType::kF16 || type == GgmlType::kBF16) {
    for (int64_t i = 0; i < n_blocks; ++i) {
      const float f = uni(rng) * scale_max;
      PutU16(&out[i * 2], type == GgmlType::kF16 ? FloatToHalf(f) : FloatToBf16(f));
    }
    return out;
  }
  const std::vector<int> fields = HalfScaleOffsets(type);
  for (int64_t i = 0; i < n_blocks; ++i) {
    uint8_t* blk = &out[i * info.type_size];
    for (size_t f = 0; f < fields.size(); ++f) {
      float v = uni(rng) * scale_max;
      // K-quant d/dmin are non-negative in real files, but the decoders must not care.
      uint16_t h = FloatToHalf(v);
      if (specials && i % 97 == 5) h = 0x7c00;                // +Inf scale -> Inf/NaN outputs
      if (specials && i % 89 == 7) h = 0x0001 + (i & 0x3ff);  // subnormal scale
      PutU16(blk + fields[f], h);
    }
  }
  return out;
}

std::vector<uint16_t> RandomBf16(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::vector<uint16_t> out(static_cast<size_t>(n));
  for (auto& v : out) v = FloatToBf16(uni(rng));
  return out;
}

}  // namespace ovid::testing
