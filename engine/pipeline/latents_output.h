// File: engine/pipeline/latents_output.h
// OUTPUT_FORMAT_LATENTS: the denoised latents as a safetensors file in memory, f32
// `video_latent` [48, F, h, w] and `audio_latent` [L, 20], with the parameters that made them
// in __metadata__ (strings, as the format requires), so a file alone says how to reproduce it.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace ovid::pipeline {

absl::StatusOr<std::string> SerializeLatents(const at::Tensor& video, const at::Tensor& audio,
                                             const std::map<std::string, std::string>& metadata);

}  // namespace ovid::pipeline
