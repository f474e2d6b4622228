// File: server/secret_file.h
// Reads a small credentials file (a certificate, a key, a token list) without the ways a plain
// ifstream can hang or balloon: a FIFO or device would block the reading thread (the signal
// watcher's, on SIGHUP) forever, and a wrong path to a huge file would be read whole.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::server {

inline constexpr size_t kMaxSecretFileBytes = size_t{1} << 20;

// The file's bytes. NOT_FOUND when it cannot be opened; INVALID_ARGUMENT when it is not a
// regular file or is larger than `max_bytes`. Messages start with `flag` and name the path.
absl::StatusOr<std::string> ReadSecretFile(const char* flag, const std::string& path,
                                           size_t max_bytes = kMaxSecretFileBytes);

}  // namespace ovid::server
