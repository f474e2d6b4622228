// File: tools/ovidctl/output_writer.h
// Writes a job's outputs to <dir>/<job_id>.<ext> as their OutputChunks arrive, checking order
// (seq from 0, contiguous offsets) and, on the last chunk, the total size and SHA-256. Data goes
// to a file of its own first (ovid::gguf::AtomicFile, <file>.tmp.<pid>.<n>) and is flushed to
// disk and renamed only once verified, so a file with the final name is always complete, even
// with two ovidctl following one job into one folder; an unfinished one is removed when the
// writer is destroyed, and on SIGINT/SIGTERM/SIGHUP (main installs the handler).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ovid/v1/generation.pb.h"

namespace ovidctl {

class OutputWriter {
 public:
  explicit OutputWriter(std::string dir);
  // Writes `format` to `path` instead of <dir>/<job_id>.<ext> (ovidctl generate -o FILE).
  void SetPath(ovid::v1::OutputFormat format, std::string path) { paths_[format] = std::move(path); }
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  // DATA_LOSS for a gap, a duplicate or a mismatch; INTERNAL when the file cannot be written.
  absl::Status Add(const std::string& job_id, const ovid::v1::OutputChunk& chunk);
  // DATA_LOSS if an output started but never got its last chunk.
  absl::Status Finish() const;

  struct Written {
    ovid::v1::OutputFormat format;
    std::string path;
    uint64_t bytes;
    std::string sha256_hex;
  };
  const std::vector<Written>& written() const { return written_; }

 private:
  struct Partial;
  std::string dir_;
  std::map<int, std::string> paths_;  // by OutputFormat: explicit file names
  std::map<int, std::unique_ptr<Partial>> partial_;  // by OutputFormat
  std::map<int, bool> done_;
  std::vector<Written> written_;
};

}  // namespace ovidctl
