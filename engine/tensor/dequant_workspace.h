// File: engine/tensor/dequant_workspace.h
// The scratch buffer a lazy QuantizedLinear expands its weight into before a dense GEMM.
//
// One per worker: the worker owns a CUDA stream and runs one job at a time on it, so every layer
// it runs can reuse the same buffer (stream order makes "dequantize layer i+1" wait for "GEMM
// layer i"). Two concurrent jobs must never share one: their streams would race on it. Sized to
// the largest layer (WeightStore::NewWorkspace does that), so the extra VRAM for weights is one
// layer's dense copy per worker. It grows (and says so) if a bigger layer comes along.
//
// A worker binds its workspace to its thread with ScopedWorkspace; QuantizedLinear::forward(x)
// then finds it through Current().
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"

namespace ovid {

class DequantWorkspace {
 public:
  // Allocates `capacity_bytes` up front on `device`, so an out-of-memory shows at start-up
  // (RESOURCE_EXHAUSTED), not in the middle of a job.
  static absl::StatusOr<std::unique_ptr<DequantWorkspace>> Create(c10::Device device,
                                                                  int64_t capacity_bytes);

  // A contiguous [rows, cols] view of `dtype` at the start of the buffer; grows the buffer if
  // needed. The view is valid until the next View() call on this workspace.
  absl::StatusOr<at::Tensor> View(int64_t rows, int64_t cols, at::ScalarType dtype);

  // Safe from any thread (VRAM accounting reads it while the worker may be growing the buffer).
  int64_t capacity_bytes() const { return capacity_.load(std::memory_order_relaxed); }
  c10::Device device() const { return device_; }

  // The workspace bound to this thread by the innermost live ScopedWorkspace, or null.
  static DequantWorkspace* Current();

 private:
  explicit DequantWorkspace(c10::Device device) : device_(device) {}
  c10::Device device_;
  at::Tensor buffer_;  // uint8; touched by the owning worker only
  std::atomic<int64_t> capacity_{0};
};

// Binds a workspace to the current thread for its lifetime (restores the previous one after).
class ScopedWorkspace {
 public:
  explicit ScopedWorkspace(DequantWorkspace* workspace);
  ~ScopedWorkspace();
  ScopedWorkspace(const ScopedWorkspace&) = delete;
  ScopedWorkspace& operator=(const ScopedWorkspace&) = delete;

 private:
  DequantWorkspace* previous_;
};

// For a model that keeps a workspace of its own for callers that bind none (tools, tests): binds
// the thread's workspace if it has one, else `own` while holding `own_mu`, since two such callers
// on different threads would expand their weights into one buffer at once.
class OwnOrBoundWorkspace {
 public:
  OwnOrBoundWorkspace(DequantWorkspace* own, std::mutex& own_mu);
  // Waits for this thread's stream before letting the next caller have `own`.
  ~OwnOrBoundWorkspace();
  OwnOrBoundWorkspace(const OwnOrBoundWorkspace&) = delete;
  OwnOrBoundWorkspace& operator=(const OwnOrBoundWorkspace&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;  // held only while `own` is the bound one
  DequantWorkspace* own_;
  ScopedWorkspace bind_;
};

}  // namespace ovid
