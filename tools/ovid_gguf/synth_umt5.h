// File: tools/ovid_gguf/synth_umt5.h
// `ovid-gguf synth OUT.gguf --preset umt5-tiny|umt5-xxl [--layout pth|gguf] [--type T]
// [--seed N] [--threads N]`: a random-weight UMT5 encoder GGUF in a chosen key layout
// (engine/models/umt5/keys), for tests and benchmarks of the text encoder. Kept apart from
// synth.cc (the Ovi presets), which hands umt5-* presets over here.
#pragma once

#include "tools/ovid_gguf/commands.h"

namespace ovid::tools {

// True if `args` name a --preset this command handles.
bool IsUmt5SynthPreset(const Args& args);
int RunSynthUmt5(const Args& args);

}  // namespace ovid::tools
