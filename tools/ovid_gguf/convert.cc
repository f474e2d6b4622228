// `ovid-gguf convert IN OUT [--select KEY] [--component NAME] [Ovi options]`: a checkpoint
// (a torch.save .pth/.pt, told by its zip signature, or safetensors) -> GGUF or safetensors
// (by OUT's extension). Key names and float dtypes are kept (convert_write.h). The tensors are
// checked against the component's layout first (--component, or the one that knows most of the
// names), so a wrong file fails before anything is written. Ovi's GGUF gets the run-time
// metadata the daemon reads (--variant, --head-dim, --text-len, --audio-rope-scale).
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/models/ovi/ovi_layout.h"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/components.h"
#include "tools/ovid_gguf/convert_write.h"
#include "tools/ovid_gguf/tensor_source.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "convert";
constexpr char kUsage[] =
    "usage: ovid-gguf convert IN OUT [--select KEY] [--component NAME|none]\n"
    "                         [--variant 720x720_5s|960x960_5s|960x960_10s] [--head-dim N]\n"
    "                         [--text-len N] [--audio-rope-scale X]\n"
    "  IN: a torch.save checkpoint (.pth/.pt, read without PyTorch) or .safetensors.\n"
    "  OUT: .gguf or .safetensors. Dtypes are kept; F64 becomes F32 (and FP8 BF16 in GGUF).\n"
    "  --select KEY: the dict inside a .pth that holds the state dict (e.g. generator for\n"
    "      BigVGAN's best_netG.pt; a dotted path for deeper ones); for safetensors a name\n"
    "      prefix to keep and strip.\n"
    "  --component: check the tensors against ovi, umt5, wan_vae, mmaudio_vae or bigvgan\n"
    "      before writing (default: the component that knows most of the names; none: no\n"
    "      check).\n"
    "  Ovi options (Ovi's defaults: variant 720x720_5s, head_dim 128, text_len 512,\n"
    "      scale 0.19676) go into an Ovi GGUF's metadata.\n";

struct ConvertOptions {
  std::string select;
  std::string component;  // "" = detect
  bool ovi_options_given = false;
  std::string variant = "720x720_5s";
  int64_t head_dim = 128;
  int64_t text_len = 512;
  double audio_rope_scale = 0.19676;
};

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<std::pair<std::string, gguf::Value>> GgufMetadata(const ConvertOptions& opt,
                                                              const KeyReport* report,
                                                              const std::string& in) {
  if (report != nullptr && report->component == "ovi") {
    return {
        {"general.architecture", gguf::Value::Str("ovi")},
        {"general.name", gguf::Value::Str(absl::StrCat("Ovi ", opt.variant))},
        {"general.quantization_version", gguf::Value::U32(2)},
        {"ovi.variant", gguf::Value::Str(opt.variant)},
        {"ovi.head_dim", gguf::Value::U32(static_cast<uint32_t>(opt.head_dim))},
        {"ovi.audio_rope_scale", gguf::Value::F32(static_cast<float>(opt.audio_rope_scale))},
        {"ovi.text_len", gguf::Value::U32(static_cast<uint32_t>(opt.text_len))},
    };
  }
  std::vector<std::pair<std::string, gguf::Value>> meta = {
      {"general.architecture", gguf::Value::Str(report ? report->component : "unknown")},
      {"general.name", gguf::Value::Str(Basename(in))},
      {"ovid.source", gguf::Value::Str(Basename(in))},
  };
  if (report != nullptr && !report->layout.empty()) {
    meta.push_back({"ovid.source_layout", gguf::Value::Str(report->layout)});
  }
  return meta;
}

absl::Status Convert(const std::string& in, const std::string& out, const ConvertOptions& opt) {
  const bool to_gguf = absl::EndsWith(out, ".gguf");
  absl::StatusOr<TensorSource> src = OpenTensorSource(in, opt.select);
  if (!src.ok()) return src.status();
  if (src->format == "gguf") {
    return absl::InvalidArgumentError(
        absl::StrCat(in,
                     ": already a GGUF file; convert reads torch.save checkpoints and safetensors "
                     "(use quantize or dequant on a GGUF)"));
  }
  if (src->tensors.empty()) return absl::InvalidArgumentError(absl::StrCat(in, ": no tensors"));

  const std::vector<NamedShape> shapes = src->Shapes();
  const ComponentOptions component_options{opt.head_dim};
  const Component* component = nullptr;
  if (opt.component.empty()) {
    component = DetectComponent(shapes, component_options);
  } else if (opt.component != "none") {
    component = FindComponent(opt.component);
  }
  if (opt.ovi_options_given && (component == nullptr || std::string(component->name) != "ovi")) {
    return absl::InvalidArgumentError(absl::StrCat(
        in,
        ": --variant, --head-dim, --text-len and --audio-rope-scale apply to Ovi only, and "
        "this file is ",
        component ? component->name : "no known component"));
  }
  if (to_gguf) {
    // Before the layout check: a wrong dtype or a long name is the first thing to fix.
    if (absl::Status s = CheckGgufOutput(*src, out); !s.ok()) return s;
  }
  std::optional<KeyReport> report;
  if (component != nullptr) {
    report = component->check(shapes, in, component_options);
    if (!report->ok()) return absl::InvalidArgumentError(report->Summary(in));
  }

  absl::Status written =
      to_gguf
          ? WriteGgufOutput(*src, out, GgufMetadata(opt, report ? &*report : nullptr, in))
          : WriteSafetensorsOutput(*src, out,
                                   {{"ovid.source", Basename(in)},
                                    {"ovid.component", report ? report->component : "unknown"}});
  if (!written.ok()) return written;

  std::printf("converted %s (%s) -> %s: %zu tensors", in.c_str(), src->format.c_str(), out.c_str(),
              src->tensors.size());
  if (report) {
    std::printf(", %s (%s layout%s%s)", report->component.c_str(), report->layout.c_str(),
                report->config.empty() ? "" : ", ", report->config.c_str());
    if (report->component == "ovi") std::printf(", variant %s", opt.variant.c_str());
  } else {
    std::printf(", not checked against any component layout");
  }
  std::printf("\n");
  if (const size_t n = CountF64(*src); n > 0) {
    std::printf("note: %zu F64 tensors were stored as F32 (ovid has no F64 kernels)\n", n);
  }
  if (src->skipped > 0) {
    std::printf("note: %zu non-tensor values under the selection were left out\n", src->skipped);
  }
  return absl::OkStatus();
}

absl::StatusOr<ConvertOptions> ReadOptions(const ParsedArgs& args) {
  ConvertOptions opt;
  if (std::optional<std::string> v = args.Get("--select")) opt.select = *v;
  if (std::optional<std::string> v = args.Get("--component")) {
    if (*v != "none" && FindComponent(*v) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--component: unknown component '", *v,
                                                     "' (valid: ", ComponentNames(), ", none)"));
    }
    opt.component = *v;
  }
  for (const char* o : {"--variant", "--head-dim", "--text-len", "--audio-rope-scale"}) {
    if (args.Get(o)) opt.ovi_options_given = true;
  }
  if (std::optional<std::string> v = args.Get("--variant")) {
    // The released checkpoints of the variant table; its test-only variant is synth's.
    std::vector<std::string> released;
    for (const ovi::OviVariant& rv : ovi::OviVariants()) {
      if (!rv.test_only) released.push_back(rv.name);
    }
    const ovi::OviVariant* found = ovi::FindOviVariant(*v);
    if (found == nullptr || found->test_only) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--variant: unknown variant '", *v, "' (valid: ", absl::StrJoin(released, ", "), ")"));
    }
    opt.variant = *v;
  }
  if (std::optional<std::string> v = args.Get("--head-dim")) {
    // Written as a uint32 key; the daemon's own bounds are far below this.
    absl::StatusOr<int64_t> n = ParseInt("--head-dim", *v, 1, 1 << 16);
    if (!n.ok()) return n.status();
    opt.head_dim = *n;
  }
  if (std::optional<std::string> v = args.Get("--text-len")) {
    // The daemon takes text_len up to 2^20 (OviWeights); more would be written and refused.
    absl::StatusOr<int64_t> n = ParseInt("--text-len", *v, 1, int64_t{1} << 20);
    if (!n.ok()) return n.status();
    opt.text_len = *n;
  }
  if (std::optional<std::string> v = args.Get("--audio-rope-scale")) {
    absl::StatusOr<double> x = ParseDouble("--audio-rope-scale", *v);
    if (!x.ok()) return x.status();
    if (!(*x > 0) || !std::isfinite(*x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--audio-rope-scale: '", *v, "' is not a positive finite number"));
    }
    opt.audio_rope_scale = *x;
  }
  return opt;
}

}  // namespace

int RunConvert(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(
      args,
      {"--variant", "--head-dim", "--text-len", "--audio-rope-scale", "--select", "--component"},
      {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 2) return UsageError(kCommand, "expected IN and OUT", kUsage);
  const std::string& out = parsed->positional[1];
  if (!absl::EndsWith(out, ".gguf") && !absl::EndsWith(out, ".safetensors")) {
    return UsageError(kCommand, absl::StrCat("OUT must end in .gguf or .safetensors: '", out, "'"),
                      kUsage);
  }
  absl::StatusOr<ConvertOptions> opt = ReadOptions(*parsed);
  if (!opt.ok()) return UsageError(kCommand, std::string(opt.status().message()), kUsage);
  const absl::Status s = Convert(parsed->positional[0], out, *opt);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
