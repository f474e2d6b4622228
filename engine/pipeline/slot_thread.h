// File: engine/pipeline/slot_thread.h
// A worker slot's own thread, which runs every job and the warm-up of that slot.
//
// Why: LibTorch keeps its cuBLAS and cuBLASLt handles per thread, and a workspace (32 MiB on
// Hopper) per (handle, stream) pair, which it never frees. When a job ran on whichever server
// thread took it, each new (thread, slot) pair added a workspace as threads and slots met: device
// memory that grew after readiness, outside every estimate (+66 MiB after a GPU soak with two
// workers; up to workers^2 workspaces). On its slot's thread a slot has one pair, made by the
// warm-up before readiness.
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "absl/functional/function_ref.h"

namespace ovid::pipeline {

class SlotThread {
 public:
  SlotThread();
  // Stops and joins the thread (no task may be running: the slot's lease is gone).
  ~SlotThread();
  SlotThread(const SlotThread&) = delete;
  SlotThread& operator=(const SlotThread&) = delete;

  // Runs `task` on this thread and waits for it to return. An exception it throws is rethrown
  // here. Calls from several threads take turns.
  void Run(absl::FunctionRef<void()> task);

 private:
  void Loop();

  std::mutex run_mu_;  // one Run at a time
  std::mutex mu_;
  std::condition_variable cv_;
  const absl::FunctionRef<void()>* task_ = nullptr;  // guarded by mu_
  bool done_ = false;                                // guarded by mu_
  bool stop_ = false;                                // guarded by mu_
  std::exception_ptr error_;                         // guarded by mu_
  std::thread thread_;                               // last: starts after the fields above
};

}  // namespace ovid::pipeline
