// File: engine/tensor/dequant_workspace.cc
#include "engine/tensor/dequant_workspace.h"

#include <ATen/ops/empty.h>

#include "absl/strings/str_cat.h"
#include "engine/ops/device_index.h"
#include "engine/ops/shared_tensors.h"
#include "engine/ops/torch_status.h"
#include "ovid/engine_log.h"

namespace ovid {
namespace {
thread_local DequantWorkspace* current_workspace = nullptr;
}  // namespace

absl::StatusOr<std::unique_ptr<DequantWorkspace>> DequantWorkspace::Create(c10::Device device,
                                                                           int64_t capacity_bytes) {
  // Compared with each weight's device: "cuda" as tensors report it, "cuda:N".
  std::unique_ptr<DequantWorkspace> ws(new DequantWorkspace(ops::WithIndex(device)));
  absl::Status s = ops::GuardTorch("allocating the dequantize workspace", [&] {
    ws->buffer_ = at::empty({std::max<int64_t>(capacity_bytes, 0)},
                            at::TensorOptions().dtype(at::kByte).device(ws->device_));
    ws->capacity_.store(ws->buffer_.numel(), std::memory_order_relaxed);
  });
  if (!s.ok()) return s;
  return ws;
}

absl::StatusOr<at::Tensor> DequantWorkspace::View(int64_t rows, int64_t cols,
                                                  at::ScalarType dtype) {
  return ops::GuardTorch("dequantize workspace", [&]() -> absl::StatusOr<at::Tensor> {
    const int64_t bytes = rows * cols * static_cast<int64_t>(c10::elementSize(dtype));
    if (bytes > buffer_.numel()) {
      // A layer bigger than the one the workspace was sized for: growing costs a reallocation
      // (the old buffer goes back to the caching allocator), so make it visible.
      EngineLog(EngineLogLevel::kInfo, absl::StrCat("dequantize workspace grows from ",
                                                    buffer_.numel(), " to ", bytes, " bytes"));
      // The old buffer was made on the loading thread's stream and read by this worker's GEMMs,
      // which may still be queued: its memory must wait for them before anyone reuses it.
      ops::MarkReadOnCurrentStream(buffer_);
      buffer_ = at::Tensor();
      capacity_.store(0, std::memory_order_relaxed);  // nothing held if the allocation fails
      buffer_ = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(device_));
      capacity_.store(buffer_.numel(), std::memory_order_relaxed);
    }
    // Byte offset 0 of a caching-allocator block: the same alignment a fresh weight tensor would
    // have, so GEMM heuristics (and results) match the eager path.
    return buffer_.narrow(0, 0, bytes).view(dtype).view({rows, cols});
  });
}

DequantWorkspace* DequantWorkspace::Current() { return current_workspace; }

ScopedWorkspace::ScopedWorkspace(DequantWorkspace* workspace) : previous_(current_workspace) {
  current_workspace = workspace;
}

ScopedWorkspace::~ScopedWorkspace() { current_workspace = previous_; }

namespace {
// Locks `own_mu` when the thread has no workspace bound (so `own` will be): decided before the
// binding, so a nested call, which finds `own` already bound, does not lock it a second time.
std::unique_lock<std::mutex> LockIfUnbound(DequantWorkspace* own, std::mutex& own_mu) {
  if (current_workspace != nullptr || own == nullptr) return {};
  return std::unique_lock<std::mutex>(own_mu);
}
}  // namespace

OwnOrBoundWorkspace::OwnOrBoundWorkspace(DequantWorkspace* own, std::mutex& own_mu)
    : lock_(LockIfUnbound(own, own_mu)),
      own_(own),
      bind_(current_workspace != nullptr ? current_workspace : own) {}

OwnOrBoundWorkspace::~OwnOrBoundWorkspace() {
  // The lock orders the callers' host code, not their streams: the next caller's kernels, on its
  // own stream, must not overwrite the buffer while this one's GEMMs may still read it. A device
  // error here is the next call's to report.
  if (lock_.owns_lock())
    ops::WaitForCurrentStream(own_->device(), "a model's own workspace").IgnoreError();
}

}  // namespace ovid
