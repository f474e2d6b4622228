// File: server/opaque_ids.h
// ListJobs page tokens and job ids that show a caller nothing of the daemon's other jobs. A page
// token is the creation number its page ended at; as a plain number it counted every job made
// since the start, every tenant's. Here it is sealed: the number and a check value, one AES-128
// block under a key made at start, in hex. A token that was made up, altered or handed out by
// another daemon (or before a restart) opens to a wrong check value and is refused.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::server {

class PageTokenSeal {
 public:
  // A fresh random key and check value. Should the system's random source fail, every Seal and
  // Open answers INTERNAL (ListJobs fails; nothing else does).
  PageTokenSeal();
  absl::StatusOr<std::string> Seal(uint64_t number) const;
  // The sealed number; INVALID_ARGUMENT ("page_token: ...") for anything Seal did not make.
  absl::StatusOr<uint64_t> Open(std::string_view token) const;

 private:
  std::array<unsigned char, 16> key_{};
  uint64_t check_ = 0;
  bool keyed_ = false;
};

// A job id: "job-" and 32 hex digits from the system's random source (no counter, which would
// tell every caller how many jobs the daemon has made).
// INTERNAL if the random source fails.
absl::StatusOr<std::string> RandomJobId();

}  // namespace ovid::server
