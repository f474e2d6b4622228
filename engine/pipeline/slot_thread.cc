// File: engine/pipeline/slot_thread.cc
#include "engine/pipeline/slot_thread.h"

#include <utility>

namespace ovid::pipeline {

SlotThread::SlotThread() : thread_([this] { Loop(); }) {}

SlotThread::~SlotThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SlotThread::Run(absl::FunctionRef<void()> task) {
  std::lock_guard<std::mutex> turn(run_mu_);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    task_ = &task;
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [&] { return done_; });
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void SlotThread::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || task_ != nullptr; });
    if (task_ == nullptr) return;  // stopped with nothing to run
    const absl::FunctionRef<void()>* task = std::exchange(task_, nullptr);
    lock.unlock();
    std::exception_ptr error;
    try {
      (*task)();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace ovid::pipeline
