// File: engine/ops/shared_tensors.cc
#include "engine/ops/shared_tensors.h"

#include <c10/core/Stream.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include "absl/strings/str_cat.h"
#include "engine/ops/torch_status.h"

namespace ovid::ops {
namespace {

// The device-generic current stream: no CUDA header here, so the CPU build compiles this too.
c10::Stream CurrentStream(c10::Device device) {
  return c10::impl::VirtualGuardImpl(device.type()).getStream(device);
}

}  // namespace

absl::Status WaitForCurrentStream(c10::Device device, const char* what) {
  if (device.is_cpu()) return absl::OkStatus();
  return GuardTorch(absl::StrCat(what, ": waiting for the device").c_str(),
                    [&] { CurrentStream(device).synchronize(); });
}

absl::Status FinishAllStreams(c10::Device device, const char* what) {
  if (device.is_cpu()) return absl::OkStatus();
  return GuardTorch(absl::StrCat(what, ": waiting for the device").c_str(), [&] {
    c10::impl::VirtualGuardImpl(device.type()).synchronizeDevice(device.has_index() ? device.index()
                                                                                     : 0);
  });
}

void MarkReadOnCurrentStream(const at::Tensor& t) {
  if (!t.defined() || !t.is_cuda()) return;
  t.record_stream(CurrentStream(t.device()));
}

}  // namespace ovid::ops
