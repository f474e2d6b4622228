// `ovid-vae-cli`: the Wan2.2 VAE from files, for the reference tests and for timing.
//
//   ovid-vae-cli --model M.safetensors --latents IN.safetensors --out OUT.safetensors
//                [--chunk N] [--stage-frames N] [--device cpu|cuda] [--dtype f32|bf16]
//                [--round-bf16]
//   ovid-vae-cli --model M.safetensors --encode IN.safetensors --out OUT.safetensors
//   ovid-vae-cli --model M.safetensors --info
//
// Decode reads `latents` (or `video_latent`, as ovid's LATENTS output names it) [48, F, h, w]
// and writes `video` [3, 4(F-1)+1, 16h, 16w] f32. Encode reads `image` [3, H, W] or `video`
// [3, 1+4k, H, W] in [-1, 1] and writes `latent` [48, 1+k, H/16, W/16]. --info prints the detected layout and config. Errors go to
// stderr with exit code 1 (2 for bad flags).
#include <ATen/ops/empty.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/wan_vae/wan_vae.h"
#include "engine/ops/torch_status.h"

namespace ovid::wan_vae {
namespace {

constexpr char kUsage[] =
    "usage: ovid-vae-cli --model M.safetensors (--latents IN | --encode IN | --info)\n"
    "                    [--out OUT.safetensors] [--chunk N] [--stage-frames N]\n"
    "                    [--device cpu|cuda]\n"
    "                    [--dtype f32|bf16] [--round-bf16]\n";

struct Args {
  std::string model, latents, image, out, device = "cpu", dtype = "f32";
  int64_t chunk = 1;
  int64_t stage_frames = 0;
  bool info = false, round_bf16 = false;
};

absl::StatusOr<Args> Parse(int argc, char** argv) {
  Args a;
  const std::map<std::string, std::string*> strings = {
      {"--model", &a.model}, {"--latents", &a.latents}, {"--encode", &a.image},
      {"--out", &a.out},     {"--device", &a.device},   {"--dtype", &a.dtype}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--info") {
      a.info = true;
    } else if (flag == "--round-bf16") {
      a.round_bf16 = true;
    } else if (i + 1 < argc && strings.count(flag)) {
      *strings.at(flag) = argv[++i];
    } else if (i + 1 < argc && flag == "--chunk") {
      if (!absl::SimpleAtoi(argv[++i], &a.chunk) || a.chunk < 1) {
        return absl::InvalidArgumentError(absl::StrCat("--chunk: '", argv[i], "' is not >= 1"));
      }
    } else if (i + 1 < argc && flag == "--stage-frames") {
      if (!absl::SimpleAtoi(argv[++i], &a.stage_frames) || a.stage_frames < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--stage-frames: '", argv[i], "' is not >= 0"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag or missing value: ", flag));
    }
  }
  const int modes = !a.latents.empty() + !a.image.empty() + a.info;
  if (a.model.empty() || modes != 1 || (!a.info && a.out.empty())) {
    return absl::InvalidArgumentError("need --model and exactly one of --latents/--encode/--info");
  }
  if (a.dtype != "f32" && a.dtype != "bf16") {
    return absl::InvalidArgumentError("--dtype must be f32 or bf16");
  }
  if (a.device != "cpu" && a.device != "cuda") {
    return absl::InvalidArgumentError("--device must be cpu or cuda");
  }
  return a;
}

// The first of `names` in the file, as an f32 CPU tensor.
absl::StatusOr<at::Tensor> ReadInput(const std::string& path,
                                     std::initializer_list<const char*> names) {
  OVID_ASSIGN_OR_RETURN(auto file, gguf::SafetensorsFile::Open(path));
  for (const char* name : names) {
    const gguf::SafetensorsTensor* t = file->Find(name);
    if (t == nullptr) continue;
    if (t->dtype != gguf::StDtype::kF32 && t->dtype != gguf::StDtype::kBF16) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", name, " is ",
                                                     gguf::StDtypeName(t->dtype),
                                                     ", expected F32 or BF16"));
    }
    const auto bytes = file->Data(*t);
    const at::ScalarType dtype = t->dtype == gguf::StDtype::kF32 ? at::kFloat : at::kBFloat16;
    return ops::GuardTorch("reading an input", [&] {
      at::Tensor raw = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
      std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());
      return raw.view(dtype).view(t->shape).to(at::kFloat);
    });
  }
  std::vector<std::string> n(names.begin(), names.end());
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": no tensor named ", absl::StrJoin(n, " or ")));
}

absl::Status WriteOutput(const std::string& path, const char* name, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).cpu().contiguous();
  const std::span<const uint8_t> data(static_cast<const uint8_t*>(c.data_ptr()),
                                      static_cast<size_t>(c.numel()) * sizeof(float));
  return gguf::WriteSafetensors(path, {{name, "F32", c.sizes().vec(), data}});
}

absl::Status Run(const Args& a) {
  WanVaeOptions o;
  o.device = a.device == "cuda" ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  o.dtype = a.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  o.round_through_bf16 = a.round_bf16;
  o.load_encoder = a.latents.empty();
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<WanVae> vae, WanVae::Load(a.model, o));
  const WanVaeConfig& c = vae->config();
  if (a.info) {
    std::printf("layout %s\nz_dim %ld\npatch %ld\nnum_res_blocks %ld\ndecoder %ld | %s\n"
                "temporal_upsample %s\nencoder %s\nparameter_bytes %ld\n",
                WanVaeLayoutName(vae->layout()), c.z_dim, c.patch, c.num_res_blocks,
                c.dec_in_dim, absl::StrJoin(c.dec_stage_dims, ",").c_str(),
                absl::StrJoin(c.dec_temporal, ",").c_str(),
                c.has_encoder ? absl::StrCat(c.enc_in_dim, " | ",
                                             absl::StrJoin(c.enc_stage_dims, ","))
                                    .c_str()
                              : "absent",
                vae->parameter_bytes());
    return absl::OkStatus();
  }
  const auto start = std::chrono::steady_clock::now();
  at::Tensor result;
  const char* name;
  if (!a.latents.empty()) {
    OVID_ASSIGN_OR_RETURN(at::Tensor z, ReadInput(a.latents, {"latents", "video_latent"}));
    DecodeOptions d;
    d.chunk_frames = a.chunk;
    d.stage_frames = a.stage_frames;
    OVID_ASSIGN_OR_RETURN(result, vae->Decode(z, d));
    name = "video";
  } else {
    OVID_ASSIGN_OR_RETURN(at::Tensor pixels, ReadInput(a.image, {"image", "video"}));
    OVID_ASSIGN_OR_RETURN(result, pixels.dim() == 3 ? vae->EncodeImage(pixels)
                                                    : vae->EncodeVideo(pixels));
    name = "latent";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "ovid-vae-cli: %s %s in %.3f s\n", name, c10::str(result.sizes()).c_str(),
               seconds);
  return WriteOutput(a.out, name, result);
}

}  // namespace
}  // namespace ovid::wan_vae

int main(int argc, char** argv) {
  absl::StatusOr<ovid::wan_vae::Args> args = ovid::wan_vae::Parse(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "ovid-vae-cli: %s\n%s", std::string(args.status().message()).c_str(),
                 ovid::wan_vae::kUsage);
    return 2;
  }
  const absl::Status s = ovid::wan_vae::Run(*args);
  if (!s.ok()) {
    std::fprintf(stderr, "ovid-vae-cli: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
