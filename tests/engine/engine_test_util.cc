// File: tests/engine/engine_test_util.cc
#include "tests/engine/engine_test_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/randn.h>

#include <cstring>

#include "kernels/cpu/dequantize.h"

#ifdef OVID_TORCH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace ovid::testing {

int CudaDeviceCount() {
#ifdef OVID_TORCH_CUDA
  try {
    return c10::cuda::device_count();
  } catch (...) {
    return 0;
  }
#else
  return 0;
#endif
}

bool HaveCuda() { return CudaDeviceCount() > 0; }

at::Tensor ReferenceWeight(GgmlType type, const void* blocks, int64_t rows, int64_t row_elements) {
  at::Tensor w = at::empty({rows, row_elements}, at::kFloat);
  DequantizeTensor(type, blocks, w.mutable_data_ptr(), FloatFormat::kF32, rows, row_elements);
  return w;
}

at::Tensor RandomInput(const std::vector<int64_t>& shape, at::ScalarType dtype, c10::Device device,
                       uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).to(device, dtype);
}

bool BitEqual(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  const at::Tensor ca = a.cpu().contiguous();
  const at::Tensor cb = b.cpu().contiguous();
  return std::memcmp(ca.const_data_ptr(), cb.const_data_ptr(), ca.nbytes()) == 0;
}

double RelativeMaxError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor fa = a.cpu().to(at::kFloat);
  const at::Tensor fb = b.cpu().to(at::kFloat);
  const double num = fa.sub(fb).abs().max().item<double>();
  const double den = fb.abs().max().item<double>();
  return den > 0 ? num / den : num;
}

}  // namespace ovid::testing
