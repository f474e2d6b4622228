// File: engine/ops/device_index.h
// A device as tensors report it. "cuda" without an index means the current CUDA device, but
// every tensor made there says "cuda:N", so a c10::Device kept to compare against tensors (a
// weight store's, an uploader's, a workspace's) must carry the index or every comparison fails.
#pragma once

#include <c10/core/Device.h>

namespace ovid::ops {

// `device` with its index filled in (the current device of its type); the CPU, devices that have
// an index and types without a backend in this LibTorch come back as they are. Never throws.
c10::Device WithIndex(c10::Device device);

}  // namespace ovid::ops
