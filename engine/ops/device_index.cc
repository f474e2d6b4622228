// File: engine/ops/device_index.cc
#include "engine/ops/device_index.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <exception>

namespace ovid::ops {

c10::Device WithIndex(c10::Device device) {
  if (device.is_cpu() || device.has_index()) return device;
  // Device-generic: no CUDA header here, so the CPU build compiles this too. Without a backend
  // for the type (CUDA asked of a CPU-only LibTorch) it comes back as it is, and the first
  // allocation on it reports that as a Status.
  try {
    return c10::impl::VirtualGuardImpl(device.type()).getDevice();
  } catch (const std::exception&) {
    return device;
  }
}

}  // namespace ovid::ops
