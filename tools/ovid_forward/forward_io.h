// File: tools/ovid_forward/forward_io.h
// ovid-forward's files: the inputs safetensors read into CPU f32 tensors, and the outputs
// written as f32 safetensors. Inputs (any float dtype):
//   forward mode: video_latent [C,F,H,W], audio_latent [L,C], video_context and audio_context
//                 [Lt, text_dim] (unpadded), timestep [1] on 0..1000;
//   sample mode:  the same (the latents are the initial noise; timestep optional and unused),
//                 plus video_negative_context and audio_negative_context [Lt, text_dim], and
//                 first_frame_latent [C,1,H,W] (optional; required with --first-frame-clean).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace ovid::tools {

struct ForwardInputs {
  at::Tensor video_latent;   // [C, F, H, W]
  at::Tensor audio_latent;   // [L, C]
  at::Tensor video_context;  // [Lt, text_dim]
  at::Tensor audio_context;  // [Lt, text_dim]
  double timestep = 0;       // 0..1000
  // Sample mode only (undefined otherwise).
  at::Tensor video_negative_context;  // [Lt, text_dim]
  at::Tensor audio_negative_context;  // [Lt, text_dim]
  at::Tensor first_frame_latent;      // [C, 1, H, W], optional
};

// Refuses missing or unexpected names, non-float dtypes and wrong ranks, naming each.
absl::StatusOr<ForwardInputs> ReadForwardInputs(const std::string& path, bool sample_mode);

// Writes each tensor as F32 (contiguous, CPU) under its name.
absl::Status WriteF32Tensors(const std::string& path,
                             const std::map<std::string, at::Tensor>& tensors);

}  // namespace ovid::tools
