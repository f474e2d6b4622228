// File: engine/models/ovi/ovi_cache_usage.h
// How Ovi's denoiser runs each linear weight, for the cache planner (--dequant cache) and the
// load-time dispatch measurement (engine/tensor/fused_dispatch.h): which token count feeds it
// and how often per denoising step. Without it the planner sees 1,200
// equal-looking layers and fills its budget in name order: audio_model.* first, whose forwards
// take the fused kernel and save nothing by a copy, and the text k/v that run once per request.
#pragma once

#include <string_view>

#include "engine/models/ovi/ovi_weights.h"
#include "engine/tensor/cache_planner.h"

namespace ovid::ovi {

// Per pass (guidance passes counted separately, two per step): blocks of the video tower and
// the audio tower's fusion k/v see the video tokens; the audio tower's blocks and the video
// tower's fusion k/v the audio tokens; the text embedding and every cross_attn.k/v the text,
// once per text input of a request (2 / Ovi's 50 default steps per step); the time embedding
// one row. Token counts are the spec's variant's (its default size and length). With
// `guidance_batched` the per-pass layers run both passes as one forward of twice the rows
// (LayerUsage::passes_in_one_call); the text k/v are computed per text input either way.
LayerUsage OviLayerUsage(const OviModelSpec& spec, std::string_view tensor_name,
                         bool guidance_batched = false);

}  // namespace ovid::ovi
