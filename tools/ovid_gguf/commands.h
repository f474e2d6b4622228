// File: tools/ovid_gguf/commands.h
// The subcommands of `ovid-gguf`. Each takes the arguments after its name and returns the
// process exit code (0 ok, 1 failure with a message on stderr, 2 usage error).
#pragma once

#include <string>
#include <vector>

namespace ovid::tools {

using Args = std::vector<std::string>;

int RunInspect(const Args& args);   // inspect FILE [--json]
int RunDequant(const Args& args);   // dequant FILE TENSOR -o OUT.f32 [--dtype f32|f16|bf16]
int RunQuantize(const Args& args);  // quantize IN OUT --type T [--rules ovi] [--threads N]
int RunConvert(const Args& args);   // convert IN OUT [--select KEY] [--component C] [--variant ...]
int RunKeys(const Args& args);      // keys FILE --expect COMPONENT [--select KEY] [--json]
int RunSynth(const Args& args);     // synth OUT.gguf --preset ovi-full|ovi-tiny [--type MIX] ...

}  // namespace ovid::tools
