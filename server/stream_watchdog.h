// File: server/stream_watchdog.h
// Ends event streams whose client has stopped reading. A client that keeps its connection alive
// (it answers keepalive pings) but reads nothing holds its stream open for as long as it likes,
// and with it the events still to be written: a finished job's outputs, past --max-kept-bytes
// and past the job's eviction. Every --stream-stall-timeout the watchdog cancels each registered
// stream whose one write in flight has not completed for that long (EventStream::
// CancelIfStalled); a client that reads, however slowly, completes a write now and then.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <set>

#include "absl/time/time.h"
#include "server/periodic.h"

namespace ovid::server {

class EventStream;

class StreamWatchdog {
 public:
  // `stall_limit` > 0. Checks every quarter of it (at most every 5 s).
  explicit StreamWatchdog(absl::Duration stall_limit);
  ~StreamWatchdog();
  StreamWatchdog(const StreamWatchdog&) = delete;
  StreamWatchdog& operator=(const StreamWatchdog&) = delete;

  absl::Duration stall_limit() const { return stall_limit_; }
  // A stream registers when it starts following its job and leaves in OnDone, before it is
  // deleted: Remove waits for a check in progress, so no check touches a finished stream.
  void Add(EventStream* stream);
  void Remove(EventStream* stream);
  // One check now (the periodic thread's work; tests call it directly).
  void Check(std::chrono::steady_clock::time_point now);

 private:
  const absl::Duration stall_limit_;
  std::mutex mu_;
  std::set<EventStream*> streams_;
  std::unique_ptr<Periodic> periodic_;  // last: its thread reads the members above
};

}  // namespace ovid::server
