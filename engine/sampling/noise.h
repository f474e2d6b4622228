// File: engine/sampling/noise.h
// The initial latents: standard normal noise from a generator seeded with the request's seed.
//
// Ovi draws torch.randn(shape, dtype=bf16, device=dev, generator=torch.Generator(dev)
// .manual_seed(seed)), one fresh generator per tower (video (48,F,h,w) and audio (L,20) both
// start from `seed`). MakeNoise does the same through ATen, so on a given device type it
// reproduces PyTorch's numbers exactly. As in PyTorch, CPU (mt19937) and CUDA (Philox) noise for
// the same seed differ, so a seed reproduces a video only on the same kind of device.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace ovid::sampling {

// INVALID_ARGUMENT for a non-floating dtype; UNIMPLEMENTED for a CUDA device in a build without
// CUDA LibTorch, or a device type other than CPU/CUDA.
absl::StatusOr<at::Tensor> MakeNoise(at::IntArrayRef shape, uint64_t seed, c10::Device device,
                                     at::ScalarType dtype);

}  // namespace ovid::sampling
