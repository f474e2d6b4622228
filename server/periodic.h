// File: server/periodic.h
// Runs a callback every `interval` on a thread of its own until destroyed (the daemon's token
// file check). The destructor wakes the thread and joins it, so a shutdown never waits out an
// interval.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace ovid::server {

class Periodic {
 public:
  Periodic(absl::Duration interval, std::function<void()> tick);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Loop();

  const absl::Duration interval_;
  const std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace ovid::server
