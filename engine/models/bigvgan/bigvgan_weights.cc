#include "engine/models/bigvgan/bigvgan_weights.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/linalg_vector_norm.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/audio/audio_weight_file.h"
#include "engine/models/bigvgan/bigvgan_filter.h"

namespace ovid::bigvgan {
namespace {

// SnakeBeta's guard against a zero beta (activations.py's no_div_by_zero).
constexpr double kNoDivByZero = 1e-9;

class Loader {
 public:
  Loader(const audio::AudioWeightFile& file, const audio::AudioModelOptions& o, int64_t* bytes)
      : file_(file), o_(o), bytes_(bytes) {}

  absl::StatusOr<ConvW> Conv(const BigVganConv& c) const {
    ConvW out;
    out.transposed = c.transposed;
    out.stride = c.stride;
    out.dilation = c.dilation;
    out.padding = c.padding;
    OVID_ASSIGN_OR_RETURN(at::Tensor v, file_.ReadF32(c.weight));
    at::Tensor g;
    if (!c.gain.empty()) {
      OVID_ASSIGN_OR_RETURN(g, file_.ReadF32(c.gain));
    }
    OVID_ASSIGN_OR_RETURN(at::Tensor b, file_.ReadF32(c.bias));
    OVID_ASSIGN_OR_RETURN(out.w, Upload(c.weight, o_.dtype, [&] {
                            if (!g.defined()) return v;
                            // torch's weight_norm(dim=0): one norm per row of the weight.
                            const at::Tensor norm =
                                at::linalg_vector_norm(v, 2, at::IntArrayRef{1, 2}, true);
                            return v.mul(g.div(norm));
                          }));
    OVID_ASSIGN_OR_RETURN(out.b, Upload(c.bias, o_.dtype, [&] { return b; }));
    return out;
  }

  absl::StatusOr<ActW> Act(const BigVganAct& a, int64_t taps) const {
    ActW out;
    OVID_ASSIGN_OR_RETURN(at::Tensor alpha, file_.ReadF32(a.alpha));
    OVID_ASSIGN_OR_RETURN(at::Tensor beta, file_.ReadF32(a.beta));
    // The Snake runs in f32 in both modes (Ovi's autocast keeps exp/pow in f32).
    OVID_ASSIGN_OR_RETURN(out.a, Upload(a.alpha, at::kFloat, [&] { return alpha.exp().view({1, -1, 1}); }));
    OVID_ASSIGN_OR_RETURN(out.inv_b, Upload(a.beta, at::kFloat, [&] {
                            return beta.exp().add(kNoDivByZero).reciprocal().view({1, -1, 1});
                          }));
    OVID_ASSIGN_OR_RETURN(out.up, Filter(a.up_filter, a.channels, taps));
    OVID_ASSIGN_OR_RETURN(out.down, Filter(a.down_filter, a.channels, taps));
    return out;
  }

 private:
  // The file's filter buffer if present, else the computed one; [C, 1, taps] for a grouped conv.
  absl::StatusOr<at::Tensor> Filter(const std::string& name, int64_t channels, int64_t taps) const {
    at::Tensor f;
    const bool present = std::any_of(file_.tensors().begin(), file_.tensors().end(),
                                      [&](const audio::NamedShape& t) { return t.name == name; });
    if (present) {
      OVID_ASSIGN_OR_RETURN(f, file_.ReadF32(name));
    } else {
      std::vector<float> k = KaiserSincFilter(taps);
      f = at::from_blob(k.data(), {taps}, at::kFloat).clone();
    }
    return Upload(name, o_.dtype, [&] { return f.reshape({1, 1, taps}).expand({channels, 1, taps}); },
                  /*count=*/false);
  }

  template <typename Fn>
  absl::StatusOr<at::Tensor> Upload(const std::string& name, at::ScalarType dtype, Fn fn,
                                    bool count = true) const {
    OVID_ASSIGN_OR_RETURN(at::Tensor t, audio::PrepareTensor(file_.path(), name, o_.device, dtype, fn));
    if (count) *bytes_ += t.numel() * static_cast<int64_t>(t.element_size());
    return t;
  }

  const audio::AudioWeightFile& file_;
  const audio::AudioModelOptions& o_;
  int64_t* bytes_;
};

}  // namespace

absl::StatusOr<BigVganWeights> LoadBigVganWeights(const std::string& path,
                                                  const audio::AudioModelOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16) {
    return absl::InvalidArgumentError("BigVGAN compute dtype must be f32 or bf16");
  }
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<audio::AudioWeightFile> file,
                        audio::AudioWeightFile::Open(path));
  OVID_ASSIGN_OR_RETURN(BigVganLayout layout, ResolveBigVganLayout(file->tensors(), path));
  BigVganWeights w;
  w.path = path;
  w.config = layout.config;
  w.device = options.device;
  w.dtype = options.dtype;
  const Loader loader(*file, options, &w.bytes);
  const BigVganConfig& c = w.config;
  // layout.convs/acts are in BuildBigVganLayout's order: conv_pre; per stage ups.i then, per
  // block, (convs1.m, convs2.m) for each m and then its activations; act_post; conv_post.
  size_t ci = 0, ai = 0;
  OVID_ASSIGN_OR_RETURN(w.conv_pre, loader.Conv(layout.convs[ci++]));
  const size_t nd = c.dilations.size();
  for (int64_t i = 0; i < c.Stages(); ++i) {
    OVID_ASSIGN_OR_RETURN(ConvW up, loader.Conv(layout.convs[ci++]));
    w.ups.push_back(std::move(up));
    for (size_t j = 0; j < c.rb_kernels.size(); ++j) {
      ResBlockW rb;
      for (size_t m = 0; m < nd; ++m) {
        OVID_ASSIGN_OR_RETURN(ConvW c1, loader.Conv(layout.convs[ci++]));
        OVID_ASSIGN_OR_RETURN(ConvW c2, loader.Conv(layout.convs[ci++]));
        rb.convs1.push_back(std::move(c1));
        rb.convs2.push_back(std::move(c2));
      }
      for (size_t n = 0; n < 2 * nd; ++n) {
        OVID_ASSIGN_OR_RETURN(ActW a, loader.Act(layout.acts[ai++], c.filter_taps));
        rb.acts.push_back(std::move(a));
      }
      w.blocks.push_back(std::move(rb));
    }
  }
  OVID_ASSIGN_OR_RETURN(w.act_post, loader.Act(layout.acts[ai++], c.filter_taps));
  OVID_ASSIGN_OR_RETURN(w.conv_post, loader.Conv(layout.convs[ci++]));
  return w;
}

}  // namespace ovid::bigvgan
