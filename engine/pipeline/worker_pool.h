// File: engine/pipeline/worker_pool.h
// The pipeline's worker slots: what one concurrently running job owns on the device. Each slot
// has its own dequant workspace (two jobs sharing one would race on it, see
// dequant_workspace.h), on CUDA its own stream, so jobs on different slots overlap, and its own
// thread (slot_thread.h: LibTorch's per-thread library handles stay one per slot). A Run leases
// a free slot for its whole duration (waiting if all are taken) and runs its work on the slot's
// thread with the slot bound; the server runs one thread per slot, so normally nobody waits.
#pragma once

#include <c10/core/Stream.h>
#include <c10/core/StreamGuard.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "engine/pipeline/slot_thread.h"
#include "engine/tensor/dequant_workspace.h"
#include "engine/tensor/weight_store.h"

namespace ovid::pipeline {

struct WorkerSlot {
  int index = 0;
  std::shared_ptr<DequantWorkspace> workspace;
  std::optional<c10::Stream> stream;   // CUDA only
  std::unique_ptr<SlotThread> thread;  // last: joined before the rest goes
};

class WorkerPool {
 public:
  // `workers` slots (>= 1), each with a workspace from `store` (allocated now, so a device
  // that cannot hold them fails at load, not in a job), of the store's WorkspaceBytes() or
  // `at_least_bytes` if more: the other lazy models a slot runs (the text encoder) expand
  // into the same workspace and must not grow it in a job.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(const WeightStore& store, int workers,
                                                            int64_t at_least_bytes = 0);

  // A slot held until the lease is destroyed.
  class Lease {
   public:
    Lease(WorkerPool* pool, WorkerSlot* slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) {
      other.pool_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    WorkerSlot& slot() const { return *slot_; }
    // Runs `task` on the slot's thread with the slot bound (SlotBinding) and waits for it.
    void Run(absl::FunctionRef<void()> task) const;

   private:
    WorkerPool* pool_;
    WorkerSlot* slot_;
  };

  // Waits for a free slot.
  Lease Acquire();
  size_t size() const { return slots_.size(); }
  // Device memory of the slots' dequantization workspaces now (they may grow).
  int64_t workspace_bytes() const;
  // Jobs holding a slot now.
  int busy() const;

 private:
  WorkerPool() = default;
  void Release(WorkerSlot* slot);

  std::vector<std::unique_ptr<WorkerSlot>> slots_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<WorkerSlot*> free_;
};

// Binds a slot to the calling thread for its lifetime: QuantizedLinear finds the workspace
// through DequantWorkspace::Current(), and every kernel LibTorch launches goes to the slot's
// stream (the current stream). The previous bindings come back on destruction.
class SlotBinding {
 public:
  explicit SlotBinding(const WorkerSlot& slot);
  SlotBinding(const SlotBinding&) = delete;
  SlotBinding& operator=(const SlotBinding&) = delete;

 private:
  ScopedWorkspace workspace_;
  std::optional<c10::StreamGuard> stream_;
};

}  // namespace ovid::pipeline
