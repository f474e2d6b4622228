// File: server/model_info.h
// The engine's description of the loaded model + a VRAM snapshot -> ovid.v1.ModelInfo (GetModel),
// and the daemon's admission settings -> its `limits`.
#pragma once

#include <string>

#include "ovid/ovi_pipeline.h"
#include "ovid/v1/generation.pb.h"
#include "server/config.h"

namespace ovid::server {

v1::ModelInfo ToModelInfo(const ModelDescription& model, const VramSnapshot& vram,
                          const std::string& version);

// ModelInfo.limits: the admission settings of `config`, with the VRAM budget in force (the
// automatic one is known only after loading).
v1::ServingLimits ToServingLimits(const Config& config, uint64_t vram_budget_bytes);

}  // namespace ovid::server
