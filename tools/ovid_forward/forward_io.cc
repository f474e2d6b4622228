#include "tools/ovid_forward/forward_io.h"

#include <ATen/ops/empty.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/st_dtype.h"
#include "engine/ops/torch_status.h"

namespace ovid::tools {
namespace {

struct Expected {
  const char* name;
  int64_t rank;
  const char* layout;
  bool forward;  // required in forward mode (else not allowed)
  bool sample;   // required in sample mode
  bool sample_optional;
};
constexpr Expected kInputs[] = {
    {"video_latent", 4, "[C, F, H, W]", true, true, false},
    {"audio_latent", 2, "[L, C]", true, true, false},
    {"video_context", 2, "[Lt, text_dim]", true, true, false},
    {"audio_context", 2, "[Lt, text_dim]", true, true, false},
    {"timestep", 1, "[1]", true, false, true},
    {"video_negative_context", 2, "[Lt, text_dim]", false, true, false},
    {"audio_negative_context", 2, "[Lt, text_dim]", false, true, false},
    {"first_frame_latent", 4, "[C, 1, H, W]", false, false, true},
};

}  // namespace

absl::StatusOr<ForwardInputs> ReadForwardInputs(const std::string& path, bool sample_mode) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<gguf::SafetensorsFile> file,
                        gguf::SafetensorsFile::Open(path));
  std::vector<std::string> problems;
  std::map<std::string, at::Tensor> read;
  for (const Expected& e : kInputs) {
    const bool required = sample_mode ? e.sample : e.forward;
    const bool allowed = required || (sample_mode && e.sample_optional);
    const gguf::SafetensorsTensor* t = file->Find(e.name);
    if (t == nullptr) {
      if (required) problems.push_back(absl::StrCat("missing '", e.name, "' ", e.layout));
      continue;
    }
    if (!allowed) continue;  // reported as unexpected below
    const std::optional<at::ScalarType> dtype = ops::TorchFloatType(t->dtype);
    if (!dtype) {
      problems.push_back(absl::StrCat("'", e.name, "' is ", gguf::StDtypeName(t->dtype),
                                      ", expected a float dtype"));
      continue;
    }
    if (static_cast<int64_t>(t->shape.size()) != e.rank || t->n_elements == 0) {
      problems.push_back(absl::StrCat("'", e.name, "' has shape [", absl::StrJoin(t->shape, ", "),
                                      "], expected ", e.layout));
      continue;
    }
    const std::span<const uint8_t> bytes = file->Data(*t);
    absl::StatusOr<at::Tensor> tensor = ops::GuardTorch("reading an input", [&] {
      at::Tensor raw = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
      std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());  // an aligned copy
      return raw.view(*dtype).view(t->shape).to(at::kFloat);
    });
    if (!tensor.ok()) return tensor.status();
    read[e.name] = *std::move(tensor);
  }
  for (const gguf::SafetensorsTensor& t : file->tensors()) {
    bool known = false;
    for (const Expected& e : kInputs) {
      known =
          known || (t.name == e.name && (sample_mode ? e.sample || e.sample_optional : e.forward));
    }
    if (!known) problems.push_back(absl::StrCat("unexpected tensor '", t.name, "'"));
  }
  if (problems.empty() && read.count("timestep") && read["timestep"].numel() != 1) {
    problems.push_back("'timestep' must hold exactly one value");
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad forward inputs: ", absl::StrJoin(problems, "; ")));
  }
  ForwardInputs in;
  in.video_latent = read["video_latent"];
  in.audio_latent = read["audio_latent"];
  in.video_context = read["video_context"];
  in.audio_context = read["audio_context"];
  if (read.count("timestep")) in.timestep = read["timestep"].item().toDouble();
  if (read.count("video_negative_context")) {
    in.video_negative_context = read["video_negative_context"];
    in.audio_negative_context = read["audio_negative_context"];
  }
  if (read.count("first_frame_latent")) in.first_frame_latent = read["first_frame_latent"];
  if (!std::isfinite(in.timestep)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": 'timestep' is not finite"));
  }
  return in;
}

absl::Status WriteF32Tensors(const std::string& path,
                             const std::map<std::string, at::Tensor>& tensors) {
  std::vector<at::Tensor> keep;
  std::vector<gguf::SafetensorsEntry> entries;
  for (const auto& [name, t] : tensors) {
    absl::StatusOr<at::Tensor> f32 = ops::GuardTorch(
        "converting an output", [&] { return t.to(at::kCPU, at::kFloat).contiguous(); });
    if (!f32.ok()) return f32.status();
    keep.push_back(*f32);
    const at::Tensor& k = keep.back();
    entries.push_back(
        {name,
         "F32",
         k.sizes().vec(),
         {static_cast<const uint8_t*>(k.data_ptr()), static_cast<size_t>(k.nbytes())}});
  }
  return gguf::WriteSafetensors(path, entries);
}

}  // namespace ovid::tools
