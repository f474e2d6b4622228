// File: server/metrics_buckets.h
// Histogram bucket bounds of the ovid_ metrics (docs/metrics.md lists the same numbers; the doc
// test compares them). A bucket boundary is where histogram_quantile can be exact, so each list
// is dense where the daemon's SLOs sit and sparse elsewhere; the bucket count stays near 15 so a
// labelled histogram (6 stages and `other`) remains cheap to scrape.
#pragma once

#include <vector>

namespace ovid::server::metrics_buckets {

inline constexpr double kMiB = 1024.0 * 1024.0;
inline constexpr double kGiB = 1024.0 * kMiB;

// Queue wait, seconds. An idle daemon answers at once (the 0.05 and 0.25 bounds separate "no
// wait" from scheduling noise); a busy one makes a job wait for the jobs ahead of it, each
// minutes long, so the tail reaches a 16-deep queue of 2-3 minute jobs (~40 min).
inline std::vector<double> QueueWaitSeconds() {
  return {0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2400, 3600};
}

// Creation to end, seconds. A 720x720 5 s clip takes minutes on an H100 (30-50 denoising steps
// of a few seconds each plus decode); cancellations and failures end in seconds. The 1-10 min
// range where most jobs land has a bound every 60-150 s.
inline std::vector<double> RequestDurationSeconds() {
  return {1, 5, 10, 30, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600};
}

// One pipeline stage, seconds. Stages differ by three orders of magnitude: text encoding and
// muxing take well under a second to a few seconds, decoding tens of seconds, denoising minutes.
inline std::vector<double> StageDurationSeconds() {
  return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200};
}

// One denoising step, seconds. On the GPU a step of the 11B model (both guidance passes) takes
// roughly 1-10 s depending on resolution and weight mode, so bounds are dense there to make p95
// meaningful; the low bounds cover small test models and CPU runs.
inline std::vector<double> DenoiseStepSeconds() {
  return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60};
}

// A request's peak device memory, bytes: 256 MiB (tiny test models) to 128 GiB (above an H200's
// 141 GB is impossible), bounds at the sizes that decide whether a job fits a 24, 40, 48, 80 or
// 141 GB card next to the resident weights.
inline std::vector<double> PeakVramBytes() {
  return {256 * kMiB, 512 * kMiB, 1 * kGiB,  2 * kGiB,  4 * kGiB,  8 * kGiB,
          12 * kGiB,  16 * kGiB,  24 * kGiB, 32 * kGiB, 40 * kGiB, 48 * kGiB,
          64 * kGiB,  80 * kGiB,  96 * kGiB, 128 * kGiB};
}

}  // namespace ovid::server::metrics_buckets
