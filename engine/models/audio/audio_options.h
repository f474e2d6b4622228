// File: engine/models/audio/audio_options.h
// What the audio decoders (MMAudio VAE, BigVGAN) are loaded with.
#pragma once

#include <ATen/core/ScalarType.h>
#include <c10/core/Device.h>

namespace ovid::audio {

struct AudioModelOptions {
  c10::Device device{c10::kCPU};
  // f32 (the checkpoints') or bf16 (what Ovi runs: the modules cast to bf16 and decoded under
  // bf16 autocast). Weight norm is folded in f32 either way, then cast. Each model's header
  // says which parts stay f32 in bf16 mode.
  at::ScalarType dtype = at::kFloat;
};

}  // namespace ovid::audio
