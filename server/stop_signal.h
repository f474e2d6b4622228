// File: server/stop_signal.h
// Why the daemon stops: SIGTERM/SIGINT (drain, exit 0) or a fatal condition such as a sticky
// device error (drain, exit 1). Signals are blocked in every thread (Block() runs before any
// thread exists, and threads inherit the mask) and taken synchronously by a watcher thread, so
// no async-signal-safety rules constrain what the shutdown does.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ovid::server {

class StopSignal {
 public:
  enum class Reason { kNone, kSignal, kFatal };

  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call first thing in main) and ignores
  // SIGPIPE (a vanished peer is an error return, not a reason to die).
  static void BlockSignals();

  // `on_ignored` (may be empty) hears of a SIGHUP, which does not stop the daemon (it may reload
  // something), from the watcher thread.
  explicit StopSignal(std::function<void(const std::string&)> on_ignored = nullptr);
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // From any thread: stop because of `why` (the first reason wins).
  void Fatal(std::string why);
  // While set, a signal calls `exit_now` (from the watcher thread, with the signal's name)
  // instead of waiting for the owner's Wait: before the daemon is ready there are no jobs to
  // drain, and a model load of minutes should not outlast a pod's grace period. Cleared with
  // nullptr; after that returns, the callback is not running and will not run. A signal taken
  // before the callback is set calls it from here, at once.
  void SetExitBeforeReady(std::function<void(const std::string&)> exit_now);
  // Waits for a signal or Fatal; returns the reason and fills `detail`.
  Reason Wait(std::string* detail);
  bool stopping() const;

 private:
  void Trigger(Reason reason, std::string detail);
  void WatchSignals();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Reason reason_ = Reason::kNone;
  std::string detail_;
  bool exiting_ = false;
  std::mutex exit_mu_;  // guards exit_before_ready_ and is held while it runs
  std::function<void(const std::string&)> exit_before_ready_;
  std::function<void(const std::string&)> on_ignored_;
  std::thread watcher_;  // last: starts after the members it reads
};

}  // namespace ovid::server
