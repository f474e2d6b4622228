// File: engine/media/ustar_writer.h
// A POSIX ustar archive built in memory: one 512-byte header per regular file, its data padded
// to 512 bytes, two zero blocks at the end. Modes 0644, owner 0/0, mtime 0 by default, so the
// same frames give the same bytes (cacheable, testable).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ovid::media {

class UstarWriter {
 public:
  explicit UstarWriter(int64_t mtime = 0) : mtime_(mtime) {}

  // INVALID_ARGUMENT for an empty name, one over 100 bytes (no prefix splitting: ours are
  // short), or data over ustar's 8 GiB per file; FAILED_PRECONDITION after Finish().
  absl::Status Add(std::string_view name, std::string_view data);

  // Appends the end-of-archive blocks and hands the archive over; the writer is then done.
  std::string Finish();

 private:
  int64_t mtime_;
  std::string out_;
  bool finished_ = false;
};

}  // namespace ovid::media
