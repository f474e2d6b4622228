// File: engine/sampling/noise.cc
#include "engine/sampling/noise.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/randn.h>
#if defined(OVID_TORCH_CUDA)
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "absl/status/status.h"
#include "engine/ops/torch_status.h"

namespace ovid::sampling {
namespace {

// A fresh generator in the state torch.Generator(device).manual_seed(seed) leaves it in.
absl::StatusOr<at::Generator> SeededGenerator(uint64_t seed, c10::Device device) {
  if (device.is_cpu()) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>();
    gen.set_current_seed(seed);
    return gen;
  }
  if (device.is_cuda()) {
#if defined(OVID_TORCH_CUDA)
    // As torch.Generator(device): an index of -1 (plain "cuda") is passed on as is.
    at::Generator gen = at::make_generator<at::CUDAGeneratorImpl>(device.index());
    gen.set_current_seed(seed);
    return gen;
#else
    return absl::UnimplementedError("CUDA noise needs a CUDA build of LibTorch");
#endif
  }
  return absl::UnimplementedError("noise only on CPU or CUDA devices");
}

}  // namespace

absl::StatusOr<at::Tensor> MakeNoise(at::IntArrayRef shape, uint64_t seed, c10::Device device,
                                     at::ScalarType dtype) {
  if (!at::isFloatingType(dtype)) {
    return absl::InvalidArgumentError("noise dtype must be floating");
  }
  return ops::GuardTorch("noise", [&]() -> absl::StatusOr<at::Tensor> {
    absl::StatusOr<at::Generator> gen = SeededGenerator(seed, device);
    if (!gen.ok()) return gen.status();
    // randn draws in `dtype` directly (not float32 then cast), as Ovi's call does.
    return at::randn(shape, *gen, at::TensorOptions().dtype(dtype).device(device));
  });
}

}  // namespace ovid::sampling
