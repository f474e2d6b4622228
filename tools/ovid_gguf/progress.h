// File: tools/ovid_gguf/progress.h
// A one-line progress report on stderr for long runs (an 11B quantize or synth takes minutes).
// Only when stderr is a terminal, so logs and tests see just the final summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ovid::tools {

class Progress {
 public:
  Progress(std::string verb, int64_t total_tensors, uint64_t total_bytes);
  ~Progress();  // ends the line if anything was printed
  // Called after each tensor; redraws at most twice a second.
  void Tensor(uint64_t bytes);

 private:
  std::string verb_;
  int64_t total_tensors_;
  uint64_t total_bytes_;
  int64_t done_tensors_ = 0;
  uint64_t done_bytes_ = 0;
  bool enabled_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace ovid::tools
