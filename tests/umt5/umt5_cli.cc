// ovid-umt5-cli: runs ovid's UMT5 encoder on token ids and writes the embeddings as
// safetensors, so an outside reference (tests/umt5/test_umt5_reference.py, the transformers
// UMT5EncoderModel) can be compared with it.
//
//   ovid-umt5-cli --model M.gguf --ids 1,2,3 [--ids 4,5 ...] --out OUT.safetensors
//                 [--device cpu|cuda] [--dtype f32|bf16] [--mode lazy|eager]
//
// All --ids lists run as one padded batch. OUT holds "emb.<i>" [L_i, d_model] as F32 and the
// metadata "layout" (the detected key layout). Exit 0 ok, 1 failure, 2 usage.
#include <ATen/core/Tensor.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/models/umt5/umt5_encoder.h"
#include "engine/ops/torch_status.h"

namespace {

constexpr char kUsage[] =
    "usage: ovid-umt5-cli --model M.gguf --ids 1,2,3 [--ids ...] --out OUT.safetensors\n"
    "                     [--device cpu|cuda] [--dtype f32|bf16] [--mode lazy|eager]\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "ovid-umt5-cli: %s\n%s", why.c_str(), kUsage);
  return 2;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "ovid-umt5-cli: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, out, device = "cpu", dtype, mode = "lazy";
  std::vector<std::vector<int64_t>> prompts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--model") {
      model = value;
    } else if (arg == "--out") {
      out = value;
    } else if (arg == "--device") {
      device = value;
    } else if (arg == "--dtype") {
      dtype = value;
    } else if (arg == "--mode") {
      mode = value;
    } else if (arg == "--ids") {
      std::vector<int64_t> ids;
      for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int64_t id = 0;
        if (!absl::SimpleAtoi(part, &id)) return Usage(absl::StrCat("bad id '", part, "'"));
        ids.push_back(id);
      }
      prompts.push_back(std::move(ids));
    } else {
      return Usage("unknown option " + arg);
    }
  }
  if (model.empty() || out.empty() || prompts.empty()) {
    return Usage("--model, --out and --ids are required");
  }
  ovid::umt5::Umt5EncoderOptions options;
  options.load.log = false;
  if (device == "cuda") {
    options.device = c10::Device(c10::kCUDA, 0);
  } else if (device != "cpu") {
    return Usage("--device must be cpu or cuda");
  }
  if (dtype == "f32") {
    options.dtype = at::kFloat;
  } else if (dtype == "bf16") {
    options.dtype = at::kBFloat16;
  } else if (!dtype.empty()) {
    return Usage("--dtype must be f32 or bf16");
  }
  if (mode == "eager") {
    options.load.mode = ovid::LinearMode::kEager;
  } else if (mode != "lazy") {
    return Usage("--mode must be lazy or eager");
  }

  absl::StatusOr<std::unique_ptr<ovid::umt5::Umt5Encoder>> encoder =
      ovid::umt5::Umt5Encoder::Load(model, options);
  if (!encoder.ok()) return Fail(encoder.status());
  absl::StatusOr<std::vector<at::Tensor>> embeddings = (*encoder)->Encode(prompts);
  if (!embeddings.ok()) return Fail(embeddings.status());

  absl::StatusOr<std::vector<at::Tensor>> host = ovid::ops::GuardTorch("copying the outputs", [&] {
    std::vector<at::Tensor> h;
    for (const at::Tensor& e : *embeddings) h.push_back(e.to(at::kFloat).cpu().contiguous());
    return h;
  });
  if (!host.ok()) return Fail(host.status());
  std::vector<ovid::gguf::SafetensorsEntry> entries;
  for (size_t i = 0; i < host->size(); ++i) {
    const at::Tensor& t = (*host)[i];
    entries.push_back(
        {absl::StrCat("emb.", i),
         "F32",
         {t.size(0), t.size(1)},
         {static_cast<const uint8_t*>(t.const_data_ptr()), static_cast<size_t>(t.nbytes())}});
  }
  const char* layout = ovid::umt5::Umt5LayoutName((*encoder)->spec().layout);
  if (absl::Status s = ovid::gguf::WriteSafetensors(out, entries, {{"layout", layout}}); !s.ok()) {
    return Fail(s);
  }
  std::printf("encoded %zu prompt(s) with %s (layout %s, %s embedding)\n", prompts.size(),
              model.c_str(), layout, (*encoder)->quantized_embedding() ? "quantized" : "plain");
  return 0;
}
