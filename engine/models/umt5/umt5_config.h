// File: engine/models/umt5/umt5_config.h
// The hyper-parameters of a UMT5 encoder (shared spec encoders.md §2). Every field but
// max_distance and eps is visible in the tensor shapes, so a file's config is inferred from it
// (umt5_layout.h); the presets are for synthesis, tests and the expected-shape report.
// No LibTorch: std + absl only.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace ovid::umt5 {

struct Umt5Config {
  int64_t vocab = 256384;  // 256000 pieces + 300 sentinels, padded to a multiple of 128
  int64_t d_model = 4096;
  int64_t layers = 24;
  int64_t heads = 64;
  int64_t d_kv = 64;  // per head; heads * d_kv need not equal d_model
  int64_t d_ff = 10240;
  int64_t buckets = 32;  // relative-position buckets (half per direction)
  int64_t max_distance = 128;
  double eps = 1e-6;  // RMSNorm

  int64_t Inner() const { return heads * d_kv; }
  // OK if every size is positive and the buckets can be split as the bucket function needs.
  absl::Status Validate() const;
};

// umt5-xxl as Wan/Ovi ship it (5.68 B parameters).
Umt5Config Umt5XxlConfig();
// Small and structurally complete: d_model 64, 2 layers, 4 heads x 16, d_ff 96, vocab 512. Row
// lengths (64, 96) are multiples of 32, so Q8_0/Q4_0/Q5_x apply (K-quants need 256).
Umt5Config Umt5TinyConfig();

}  // namespace ovid::umt5
