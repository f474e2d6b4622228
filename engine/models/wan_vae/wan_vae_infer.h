// File: engine/models/wan_vae/wan_vae_infer.h
// The Wan VAE config a file's tensor shapes imply, read through a detected key table: widths from
// the conv weights, the stage count and residual blocks per stage from which keys exist, temporal
// resampling from the presence of time_conv, the patch size from the head's output channels.
// Only what the layout check cannot do without is required; everything else is left to the check
// (wan_vae_keys.h), which then names every problem at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/wan_vae/wan_vae_config.h"
#include "engine/models/wan_vae/wan_vae_keys.h"

namespace ovid::wan_vae {

absl::StatusOr<WanVaeConfig> InferWanVaeConfig(const KeyTable& table,
                                               const std::map<std::string, std::vector<int64_t>>& shapes,
                                               absl::string_view source);

}  // namespace ovid::wan_vae
