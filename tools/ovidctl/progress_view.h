// File: tools/ovidctl/progress_view.h
// The live view of a job on stderr. On a terminal: one line redrawn in place (stage, bar,
// step/total, elapsed, ETA). Otherwise (a log, a pipe): plain lines, one per stage change and
// per tenth of a stage, so a log of a 50-step job stays short.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "ovid/v1/generation.pb.h"

namespace ovidctl {

class ProgressView {
 public:
  ProgressView(bool terminal, std::FILE* out) : terminal_(terminal), out_(out) {}

  void Accepted(const std::string& job_id, const ovid::v1::Accepted& accepted);
  void Progress(const ovid::v1::Progress& progress);
  void Chunk(const ovid::v1::OutputChunk& chunk);
  void Reattach(int attempt, uint64_t from_event, const std::string& why);
  // Ends the in-place line, if any, so later output starts on a fresh line.
  void Close();

 private:
  void Line(const std::string& text, bool transient);

  bool terminal_;
  std::FILE* out_;
  bool dirty_ = false;  // an in-place line is on screen
  std::string stage_;
  uint32_t decile_ = 0;
  uint64_t chunk_bytes_ = 0;
};

}  // namespace ovidctl
