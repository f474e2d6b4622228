// File: engine/pipeline/worker_pool.cc
#include "engine/pipeline/worker_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/pipeline/device_util.h"

namespace ovid::pipeline {

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(const WeightStore& store,
                                                               int workers,
                                                               int64_t at_least_bytes) {
  if (workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("workers must be >= 1, got ", workers));
  }
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  for (int i = 0; i < workers; ++i) {
    auto slot = std::make_unique<WorkerSlot>();
    slot->index = i;
    absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws =
        store.NewWorkspace(std::max(store.WorkspaceBytes(), at_least_bytes));
    if (!ws.ok()) {
      return absl::Status(
          ws.status().code(),
          absl::StrCat("worker ", i, ": dequant workspace: ", ws.status().message()));
    }
    slot->workspace = *std::move(ws);
    slot->stream = NewWorkerStream(store.device());
    slot->thread = std::make_unique<SlotThread>();
    pool->free_.push_back(slot.get());
    pool->slots_.push_back(std::move(slot));
  }
  return pool;
}

WorkerPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

void WorkerPool::Lease::Run(absl::FunctionRef<void()> task) const {
  const WorkerSlot& slot = *slot_;
  slot.thread->Run([&] {
    const SlotBinding bind(slot);
    task();
  });
}

WorkerPool::Lease WorkerPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [&] { return !free_.empty(); });
  WorkerSlot* slot = free_.back();
  free_.pop_back();
  return Lease(this, slot);
}

void WorkerPool::Release(WorkerSlot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }
  freed_.notify_one();
}

int64_t WorkerPool::workspace_bytes() const {
  int64_t bytes = 0;
  for (const auto& slot : slots_) bytes += slot->workspace->capacity_bytes();
  return bytes;
}

int WorkerPool::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(slots_.size() - free_.size());
}

SlotBinding::SlotBinding(const WorkerSlot& slot) : workspace_(slot.workspace.get()) {
  if (slot.stream.has_value()) stream_.emplace(*slot.stream);
}

}  // namespace ovid::pipeline
