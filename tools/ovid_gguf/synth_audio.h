// File: tools/ovid_gguf/synth_audio.h
// `ovid-gguf synth OUT.safetensors --preset mmaudio-vae-tiny|mmaudio-vae-16k|bigvgan-tiny|
// bigvgan-16k [--form weight_norm|parametrized|folded] [--seed N]`: random-weight audio decoders
// (engine/models/mmaudio_vae, engine/models/bigvgan) in their checkpoints' original names, as
// safetensors (the format their real checkpoints convert to; no quantized types apply), for
// tests, `make run` and GPU benchmarks. Kept apart from synth.cc (the Ovi presets), which hands
// these presets over here.
#pragma once

#include "tools/ovid_gguf/commands.h"

namespace ovid::tools {

// True if `args` name a --preset this command handles (mmaudio-* or bigvgan-*).
bool IsAudioSynthPreset(const Args& args);
int RunSynthAudio(const Args& args);

}  // namespace ovid::tools
