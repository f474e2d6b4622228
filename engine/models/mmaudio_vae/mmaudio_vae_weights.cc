#include "engine/models/mmaudio_vae/mmaudio_vae_weights.h"

#include <ATen/ops/linalg_vector_norm.h>

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/audio/audio_weight_file.h"

namespace ovid::mmaudio_vae {
namespace {

// edm2's normalize(w) (norm over all dims but 0, eps added after scaling by sqrt(1/fan_in)),
// then / sqrt(fan_in), as MPConv1D.remove_weight_norm does it, in f32.
at::Tensor FoldMpConv(const at::Tensor& w) {
  const int64_t fan_in = w.numel() / w.size(0);
  const at::Tensor norm = at::linalg_vector_norm(w, 2, at::IntArrayRef{1, 2}, true);
  const at::Tensor normed = w.div(norm.mul(std::sqrt(1.0 / static_cast<double>(fan_in))).add(1e-4));
  return normed.div(std::sqrt(static_cast<double>(fan_in)));
}

class Binder {
 public:
  Binder(const audio::AudioWeightFile& file, const std::map<std::string, std::string>& files,
         const audio::AudioModelOptions& o, int64_t* bytes)
      : file_(file), files_(files), o_(o), bytes_(bytes) {}

  // The f32 host tensor bound as `logical`.
  absl::StatusOr<at::Tensor> Raw(const std::string& logical) const {
    auto it = files_.find(logical);
    if (it == files_.end()) {
      // The layout check passed, so this is ovid's own inconsistency, not the file's.
      return absl::InternalError(absl::StrCat(file_.path(), ": no tensor bound as ", logical));
    }
    return file_.ReadF32(it->second);
  }
  // A resident tensor: `fn` of the f32 host tensor, on the device in `dtype`.
  template <typename Fn>
  absl::StatusOr<at::Tensor> Upload(const std::string& logical, at::ScalarType dtype, Fn fn) const {
    OVID_ASSIGN_OR_RETURN(at::Tensor raw, Raw(logical));
    OVID_ASSIGN_OR_RETURN(at::Tensor t, audio::PrepareTensor(file_.path(), files_.at(logical),
                                                             o_.device, dtype,
                                                             [&] { return fn(raw); }));
    *bytes_ += t.numel() * static_cast<int64_t>(t.element_size());
    return t;
  }
  absl::StatusOr<at::Tensor> Conv(const std::string& logical) const {
    return Upload(logical, o_.dtype, FoldMpConv);
  }
  absl::StatusOr<ResW> Res(const std::string& m) const {
    ResW r;
    OVID_ASSIGN_OR_RETURN(r.conv1, Conv(m + ".conv1"));
    OVID_ASSIGN_OR_RETURN(r.conv2, Conv(m + ".conv2"));
    if (files_.count(m + ".nin_shortcut")) {
      OVID_ASSIGN_OR_RETURN(r.shortcut, Conv(m + ".nin_shortcut"));
    }
    return r;
  }

 private:
  const audio::AudioWeightFile& file_;
  const std::map<std::string, std::string>& files_;
  const audio::AudioModelOptions& o_;
  int64_t* bytes_;
};

}  // namespace

absl::StatusOr<MmAudioVaeWeights> LoadMmAudioVaeWeights(const std::string& path,
                                                        const audio::AudioModelOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16) {
    return absl::InvalidArgumentError("MMAudio VAE compute dtype must be f32 or bf16");
  }
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<audio::AudioWeightFile> file,
                        audio::AudioWeightFile::Open(path));
  OVID_ASSIGN_OR_RETURN(ResolvedMmAudioVae layout, ResolveMmAudioVaeLayout(file->tensors(), path));
  std::map<std::string, std::string> files;
  for (const MmAudioVaeTensor& t : layout.tensors) files[t.logical] = t.expected.file;

  MmAudioVaeWeights w;
  w.path = path;
  w.config = layout.config;
  w.device = options.device;
  w.dtype = options.dtype;
  w.ignored = std::move(layout.ignored);
  const Binder b(*file, files, options, &w.bytes);
  OVID_ASSIGN_OR_RETURN(w.conv_in, b.Conv("conv_in"));
  OVID_ASSIGN_OR_RETURN(w.mid1, b.Res("mid.block_1"));
  OVID_ASSIGN_OR_RETURN(w.qkv, b.Conv("mid.attn.qkv"));
  OVID_ASSIGN_OR_RETURN(w.proj_out, b.Conv("mid.attn.proj_out"));
  OVID_ASSIGN_OR_RETURN(w.mid2, b.Res("mid.block_2"));
  const MmAudioVaeConfig& c = w.config;
  w.levels.resize(c.ch_mult.size());
  for (size_t l = 0; l < c.ch_mult.size(); ++l) {
    for (int64_t j = 0; j < c.blocks_per_level; ++j) {
      OVID_ASSIGN_OR_RETURN(ResW r, b.Res(absl::StrCat("up.", l, ".block.", j)));
      w.levels[l].blocks.push_back(std::move(r));
    }
    if (c.upsample[l]) {
      OVID_ASSIGN_OR_RETURN(w.levels[l].upsample, b.Conv(absl::StrCat("up.", l, ".upsample")));
    }
  }
  // conv_out runs with gain = learnable_gain + 1 (a scalar): folded into its weight here.
  OVID_ASSIGN_OR_RETURN(at::Tensor gain, b.Raw("gain"));
  const double g = gain.reshape({-1})[0].item<double>() + 1.0;
  // Folded into every conv_out weight: a NaN here loaded and made every sample NaN.
  if (!std::isfinite(g)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the learnable gain (", files.at("gain"), ") is not finite"));
  }
  OVID_ASSIGN_OR_RETURN(w.conv_out, b.Upload("conv_out", options.dtype, [&](const at::Tensor& raw) {
                          return FoldMpConv(raw).mul(g);
                        }));
  // The mel statistics stay f32: the output is f32 and they are 80 numbers.
  auto column = [&](const at::Tensor& raw) { return raw.reshape({1, c.data_dim, 1}); };
  OVID_ASSIGN_OR_RETURN(w.data_mean, b.Upload("data_mean", at::kFloat, column));
  OVID_ASSIGN_OR_RETURN(w.data_std, b.Upload("data_std", at::kFloat, column));
  return w;
}

}  // namespace ovid::mmaudio_vae
