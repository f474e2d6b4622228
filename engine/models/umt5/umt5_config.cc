// File: engine/models/umt5/umt5_config.cc
#include "engine/models/umt5/umt5_config.h"

#include "absl/strings/str_cat.h"

namespace ovid::umt5 {

absl::Status Umt5Config::Validate() const {
  const std::pair<const char*, int64_t> sizes[] = {
      {"vocab", vocab}, {"d_model", d_model}, {"layers", layers},   {"heads", heads},
      {"d_kv", d_kv},   {"d_ff", d_ff},       {"buckets", buckets}, {"max_distance", max_distance}};
  for (const auto& [name, value] : sizes) {
    if (value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("UMT5 config: ", name, " must be positive"));
    }
  }
  // Bidirectional buckets: half per direction, half of those exact (T5's bucket function), and
  // the log-spaced range must start below max_distance or the log turns negative.
  if (buckets % 4 != 0 || max_distance <= buckets / 4) {
    return absl::InvalidArgumentError(absl::StrCat("UMT5 config: buckets ", buckets,
                                                   " must be a multiple of 4 and max_distance ",
                                                   max_distance, " larger than buckets/4"));
  }
  // +Inf passed "> 0" and zeroed every embedding; real models use 1e-6.
  if (!(eps > 0) || !(eps < 1e-2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("UMT5 config: eps ", eps, " must be positive and below 0.01"));
  }
  return absl::OkStatus();
}

Umt5Config Umt5XxlConfig() { return Umt5Config(); }

Umt5Config Umt5TinyConfig() {
  Umt5Config c;
  c.vocab = 512;
  c.d_model = 64;
  c.layers = 2;
  c.heads = 4;
  c.d_kv = 16;
  c.d_ff = 96;
  return c;
}

}  // namespace ovid::umt5
