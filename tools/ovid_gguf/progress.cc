#include "tools/ovid_gguf/progress.h"

#include <unistd.h>

#include <cstdio>

namespace ovid::tools {

Progress::Progress(std::string verb, int64_t total_tensors, uint64_t total_bytes)
    : verb_(std::move(verb)),
      total_tensors_(total_tensors),
      total_bytes_(total_bytes),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (printed_) std::fputc('\n', stderr);
}

void Progress::Tensor(uint64_t bytes) {
  ++done_tensors_;
  done_bytes_ += bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(500) && done_tensors_ < total_tensors_) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double fraction =
      total_bytes_ ? static_cast<double>(done_bytes_) / static_cast<double>(total_bytes_) : 1.0;
  // The remaining time assumes bytes take equally long, good enough for a progress line.
  const double eta = fraction > 0 ? seconds * (1.0 - fraction) / fraction : 0.0;
  std::fprintf(stderr, "\r%s: %lld/%lld tensors, %.1f%% of the data, %.0f s, ~%.0f s left   ",
               verb_.c_str(), static_cast<long long>(done_tensors_),
               static_cast<long long>(total_tensors_), 100.0 * fraction, seconds, eta);
  std::fflush(stderr);
  printed_ = true;
}

}  // namespace ovid::tools
