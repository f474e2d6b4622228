// File: server/periodic.h
// Runs a callback every `interval` on a thread of its own until destroyed (the daemon's token
// file check). The destructor wakes the thread and joins it, so a shutdown never waits out an
// interval.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace ovid::server {

// How often a watchdog with limit `limit` checks: a quarter of it, between 10 ms and 5 s (the
// stream and job stall watches).
inline absl::Duration CheckIntervalFor(absl::Duration limit) {
  return std::clamp(limit / 4, absl::Milliseconds(10), absl::Seconds(5));
}

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
