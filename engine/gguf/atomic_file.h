// File: engine/gguf/atomic_file.h
// A file written next to its destination under a name of its own (<path>.tmp.<pid>.<n>) and
// renamed over the destination only once complete and flushed to disk (fsync). Readers never
// see a half-written file, a crash leaves the old file (or none) under the final name, two
// writers of one path do not truncate each other's data, and writing over a file that is still
// being read (an mmapped input given as the output) cannot truncate it under its reader. An
// uncommitted file is removed when the AtomicFile goes.
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::gguf {

class AtomicFile {
 public:
  // UNAVAILABLE naming the temporary path when it cannot be created.
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // UNAVAILABLE naming the temporary path and the system's reason.
  absl::Status Write(const void* data, size_t bytes);
  // Flush, fsync, close, rename over the destination. After a failure nothing is left behind.
  absl::Status Commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

 private:
  AtomicFile(std::string path, std::string temp, std::FILE* file)
      : path_(std::move(path)), temp_(std::move(temp)), file_(file) {}
  std::string path_, temp_;
  std::FILE* file_ = nullptr;  // null once committed
};

// Removes the temporary files of every AtomicFile not yet committed or destroyed. Async-signal-
// safe (unlink over a fixed table), for a handler of SIGINT/SIGTERM: an interrupted conversion
// left its partial output (gigabytes for a full model) under the hidden-looking .tmp name.
void RemovePendingTempFiles();

// Makes SIGINT, SIGTERM and SIGHUP remove the pending temporary files and then end the process
// as the signal would have (killed by it, so a shell still sees 130 for Ctrl-C). A signal the
// caller had set to be ignored stays ignored: `nohup` (SIGHUP) and a script's background jobs
// (SIGINT) keep running. For a command-line tool's main (ovid-gguf, ovidctl).
void RemoveTempFilesOnSignals();

}  // namespace ovid::gguf
