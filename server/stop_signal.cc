// File: server/stop_signal.cc
#include "server/stop_signal.h"

#include <signal.h>
#include <time.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // SIGHUP's default action kills the process without a drain (a closed terminal, a "reload"
  // from systemd or a certificate sidecar). It is taken and handed to the daemon's callback,
  // which re-reads the token file.
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void StopSignal::BlockSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

StopSignal::StopSignal(std::function<void(const std::string&)> on_ignored)
    : on_ignored_(std::move(on_ignored)), watcher_([this] { WatchSignals(); }) {}

StopSignal::~StopSignal() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    exiting_ = true;
  }
  watcher_.join();
}

void StopSignal::WatchSignals() {
  const sigset_t set = StopSignals();
  // A short timeout instead of a plain sigwait, so the destructor can end the thread.
  const timespec tick{0, 200 * 1000 * 1000};
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (exiting_) return;
    }
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGHUP) {
      if (on_ignored_) on_ignored_("SIGHUP");
    } else if (sig == SIGTERM || sig == SIGINT) {
      const std::string name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
      // Held while the reason is recorded and the callback runs: SetExitBeforeReady(nullptr)
      // waits for the callback, and a callback set later sees the recorded signal.
      std::lock_guard<std::mutex> lock(exit_mu_);
      Trigger(Reason::kSignal, name);
      if (exit_before_ready_) exit_before_ready_(name);
    }
  }
}

void StopSignal::SetExitBeforeReady(std::function<void(const std::string&)> exit_now) {
  std::lock_guard<std::mutex> lock(exit_mu_);
  exit_before_ready_ = std::move(exit_now);
  if (!exit_before_ready_) return;
  // A signal taken before the callback was set (early in startup) must not wait for the load.
  std::string signal;
  {
    std::lock_guard<std::mutex> state(mu_);
    if (reason_ != Reason::kSignal) return;
    signal = detail_;
  }
  exit_before_ready_(signal);
}

void StopSignal::Fatal(std::string why) { Trigger(Reason::kFatal, std::move(why)); }

void StopSignal::Trigger(Reason reason, std::string detail) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reason_ != Reason::kNone) return;
  reason_ = reason;
  detail_ = std::move(detail);
  cv_.notify_all();
}

StopSignal::Reason StopSignal::Wait(std::string* detail) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return reason_ != Reason::kNone; });
  *detail = detail_;
  return reason_;
}

bool StopSignal::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_ != Reason::kNone;
}

}  // namespace ovid::server
