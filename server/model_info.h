// File: server/model_info.h
// The engine's description of the loaded model + a VRAM snapshot -> ovid.v1.ModelInfo (GetModel).
#pragma once

#include <string>

#include "ovid/ovi_pipeline.h"
#include "ovid/v1/generation.pb.h"

namespace ovid::server {

v1::ModelInfo ToModelInfo(const ModelDescription& model, const VramSnapshot& vram,
                          const std::string& version);

}  // namespace ovid::server
