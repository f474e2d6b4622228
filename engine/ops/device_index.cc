// File: engine/ops/device_index.cc
#include "engine/ops/device_index.h"

#include <c10/core/impl/VirtualGuardImpl.h>

namespace ovid::ops {

c10::Device WithIndex(c10::Device device) {
  if (device.is_cpu() || device.has_index()) return device;
  // Device-generic: no CUDA header here, so the CPU build compiles this too.
  return c10::impl::VirtualGuardImpl(device.type()).getDevice();
}

}  // namespace ovid::ops
