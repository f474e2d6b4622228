// File: tools/ovid_gguf/synth_wan_vae.h
// `ovid-gguf synth OUT.safetensors --preset wan-vae-tiny|wan-vae-2.2 [--seed N]
// [--dtype f32|bf16] [--threads N] [--plan]`: a random-weight Wan2.2 VAE (encoder and decoder)
// with the original Wan2.2_VAE.pth tensor names and shapes (engine/models/wan_vae/wan_vae_keys.h),
// for `make run` and GPU benchmarks of the video decoder without the 2.8 GB download. Kept apart
// from synth.cc (the Ovi presets), which hands wan-vae-* presets over here.
#pragma once

#include "tools/ovid_gguf/commands.h"

namespace ovid::tools {

// True if `args` name a --preset this command handles.
bool IsWanVaeSynthPreset(const Args& args);
int RunSynthWanVae(const Args& args);

}  // namespace ovid::tools
