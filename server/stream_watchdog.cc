// File: server/stream_watchdog.cc
#include "server/stream_watchdog.h"

#include "server/event_stream.h"

namespace ovid::server {

StreamWatchdog::StreamWatchdog(absl::Duration stall_limit)
    : stall_limit_(stall_limit),
      periodic_(std::make_unique<Periodic>(CheckIntervalFor(stall_limit),
                                           [this] { Check(std::chrono::steady_clock::now()); })) {}

StreamWatchdog::~StreamWatchdog() { periodic_.reset(); }

void StreamWatchdog::Add(EventStream* stream) {
  const std::lock_guard<std::mutex> lock(mu_);
  streams_.insert(stream);
}

void StreamWatchdog::Remove(EventStream* stream) {
  const std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
}

void StreamWatchdog::Check(std::chrono::steady_clock::time_point now) {
  // Held while cancelling: a stream's OnDone (which removes it) cannot finish meanwhile. gRPC
  // never runs a reactor's OnCancel or OnDone inside TryCancel (they are scheduled on its own
  // threads for reactors that are not inlineable, as EventStream is not), so this cannot
  // deadlock.
  const std::lock_guard<std::mutex> lock(mu_);
  for (EventStream* stream : streams_) stream->CancelIfStalled(now, stall_limit_);
}

}  // namespace ovid::server
