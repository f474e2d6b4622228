// ovid-gguf: inspect, convert, quantize and synthesize GGUF files for ovid.
#include <cstdio>
#include <cstring>
#include <string>

#include "engine/gguf/atomic_file.h"
#include "tools/ovid_gguf/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: ovid-gguf COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect FILE [--json]        metadata, tensors, totals per type, compression\n"
    "  dequant FILE TENSOR -o OUT   one tensor as raw little-endian floats (torch order)\n"
    "          [--dtype f32|f16|bf16] [--threads N]\n"
    "  quantize IN OUT --type T     quantize a GGUF (T: a ggml type such as Q4_K, or a mix\n"
    "          [--rules ovi]        such as Q4_K_M; see README) [--threads N]\n"
    "  convert IN OUT               a checkpoint (.pth/.pt or .safetensors) -> .gguf or\n"
    "          [--select KEY]       .safetensors, checked against its component first\n"
    "          [--component NAME|none] [--variant 720x720_5s|960x960_5s|960x960_10s]\n"
    "          [--head-dim N] [--text-len N] [--audio-rope-scale X]\n"
    "  keys FILE --expect COMPONENT missing, unexpected and misshaped tensors of FILE\n"
    "          [--select KEY] [--json]  (.pth, .safetensors or .gguf); exit 0 if none\n"
    "  synth OUT.gguf --preset ovi-full|ovi-tiny [--type MIX] [--seed N] [--threads N]\n"
    "          [--plan]             a random-weight Ovi GGUF with the real tensor set\n"
    "                               (--plan: print the tensor list as JSON, write nothing)\n"
    "\n"
    "Run `ovid-gguf COMMAND --help` for the options of one command.\n";

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C or a kill during a write removes the partial output (gigabytes for a full model).
  ovid::gguf::RemoveTempFilesOnSignals();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const ovid::tools::Args args(argv + 2, argv + argc);
  if (command == "inspect") return ovid::tools::RunInspect(args);
  if (command == "dequant") return ovid::tools::RunDequant(args);
  if (command == "quantize") return ovid::tools::RunQuantize(args);
  if (command == "convert") return ovid::tools::RunConvert(args);
  if (command == "keys") return ovid::tools::RunKeys(args);
  if (command == "synth") return ovid::tools::RunSynth(args);
  std::fprintf(stderr, "ovid-gguf: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
