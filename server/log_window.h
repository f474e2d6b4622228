// File: server/log_window.h
// A log rate limit: at most `per_window` lines per `window`; the lines left out are counted, and
// the count goes with the next line logged (as `not_logged`), so a flood costs a line now and
// then, not a line per request. Not thread-safe: the owner holds its own lock.
#pragma once

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/log.h"

namespace ovid::server {

class LogWindow {
 public:
  LogWindow(int per_window, absl::Duration window) : per_window_(per_window), window_(window) {}

  // Whether a line may be logged at `now`; if so, and lines were left out since the last one
  // logged, `fields` gets their count as `not_logged`, and the count starts again.
  bool Admit(absl::Time now, LogFields& fields) {
    // A wall clock stepped back (NTP) starts a new window too, rather than none for as long.
    if (now - start_ >= window_ || now < start_) {
      start_ = now;
      logged_ = 0;
    }
    if (logged_ >= per_window_) {
      ++not_logged_;
      return false;
    }
    ++logged_;
    if (not_logged_ > 0) fields.emplace_back("not_logged", absl::StrCat(not_logged_));
    not_logged_ = 0;
    return true;
  }
  // Lines left out and not yet reported (said at exit).
  int64_t pending() const { return not_logged_; }

 private:
  const int per_window_;
  const absl::Duration window_;
  absl::Time start_ = absl::InfinitePast();
  int logged_ = 0;
  int64_t not_logged_ = 0;
};

}  // namespace ovid::server
