#include "engine/models/wan_vae/wan_vae_weights.h"

#include <ATen/ops/empty.h>

#include <cmath>
#include <cstring>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/st_dtype.h"
#include "engine/ops/torch_status.h"

namespace ovid::wan_vae {
namespace {

bool IsEncoderTensor(const std::string& logical) {
  return absl::StartsWith(logical, "enc.") || absl::StartsWith(logical, "quant_conv.");
}

// Builds the module structs from the uploaded tensors, by logical name.
class Binder {
 public:
  Binder(const std::map<std::string, at::Tensor>& t, const std::string& path)
      : t_(t), path_(path) {}

  absl::StatusOr<at::Tensor> Get(const std::string& name) const {
    auto it = t_.find(name);
    if (it == t_.end()) {
      // The layout check passed, so this is ovid's own inconsistency, not the file's.
      return absl::InternalError(absl::StrCat(path_, ": no tensor bound as ", name));
    }
    return it->second;
  }
  absl::StatusOr<ConvW> Conv(const std::string& m) const {
    ConvW c;
    OVID_ASSIGN_OR_RETURN(c.w, Get(m + ".weight"));
    OVID_ASSIGN_OR_RETURN(c.b, Get(m + ".bias"));
    return c;
  }
  absl::StatusOr<at::Tensor> Norm(const std::string& name) const {
    OVID_ASSIGN_OR_RETURN(at::Tensor g, Get(name));
    return ops::GuardTorch("scaling an RMS_norm gamma",
                           [&] { return g.mul(std::sqrt(static_cast<double>(g.size(0)))); });
  }
  absl::StatusOr<ResW> Res(const std::string& m) const {
    ResW r;
    OVID_ASSIGN_OR_RETURN(r.norm1, Norm(m + ".norm1.gamma"));
    OVID_ASSIGN_OR_RETURN(r.norm2, Norm(m + ".norm2.gamma"));
    OVID_ASSIGN_OR_RETURN(r.conv1, Conv(m + ".conv1"));
    OVID_ASSIGN_OR_RETURN(r.conv2, Conv(m + ".conv2"));
    if (t_.count(m + ".shortcut.weight")) {
      OVID_ASSIGN_OR_RETURN(r.shortcut, Conv(m + ".shortcut"));
    }
    return r;
  }
  absl::StatusOr<AttnW> Attn(const std::string& m) const {
    AttnW a;
    OVID_ASSIGN_OR_RETURN(a.norm, Norm(m + ".norm.gamma"));
    OVID_ASSIGN_OR_RETURN(a.qkv, Conv(m + ".to_qkv"));
    OVID_ASSIGN_OR_RETURN(a.proj, Conv(m + ".proj"));
    return a;
  }
  // Stage s of "dec.up" / "enc.down" with `blocks` residual blocks.
  absl::StatusOr<StageW> Stage(const std::string& prefix, int s, int64_t in, int64_t out,
                               int blocks, bool last, bool temporal) const {
    StageW st;
    st.in_dim = in;
    st.out_dim = out;
    st.resamples = !last;
    st.temporal = !last && temporal;
    const std::string p = absl::StrCat(prefix, ".", s);
    for (int j = 0; j < blocks; ++j) {
      OVID_ASSIGN_OR_RETURN(ResW r, Res(absl::StrCat(p, ".res.", j)));
      st.res.push_back(std::move(r));
    }
    if (st.resamples) {
      OVID_ASSIGN_OR_RETURN(st.resample, Conv(p + ".resample"));
    }
    if (st.temporal) {
      OVID_ASSIGN_OR_RETURN(st.time_conv, Conv(p + ".time_conv"));
    }
    return st;
  }

 private:
  const std::map<std::string, at::Tensor>& t_;
  const std::string& path_;
};

absl::StatusOr<DecoderW> BindDecoder(const Binder& b, const WanVaeConfig& c) {
  DecoderW d;
  OVID_ASSIGN_OR_RETURN(d.post_quant, b.Conv("post_quant_conv"));
  OVID_ASSIGN_OR_RETURN(d.conv_in, b.Conv("dec.conv_in"));
  OVID_ASSIGN_OR_RETURN(d.mid0, b.Res("dec.mid.res.0"));
  OVID_ASSIGN_OR_RETURN(d.attn, b.Attn("dec.mid.attn"));
  OVID_ASSIGN_OR_RETURN(d.mid1, b.Res("dec.mid.res.1"));
  int64_t in = c.dec_in_dim;
  const int n = static_cast<int>(c.dec_stage_dims.size());
  for (int s = 0; s < n; ++s) {
    const bool last = s + 1 == n;
    OVID_ASSIGN_OR_RETURN(StageW st, b.Stage("dec.up", s, in, c.dec_stage_dims[s],
                                             static_cast<int>(c.num_res_blocks) + 1, last,
                                             !last && c.dec_temporal[s]));
    in = st.out_dim;
    d.stages.push_back(std::move(st));
  }
  OVID_ASSIGN_OR_RETURN(d.head_norm, b.Norm("dec.head.norm.gamma"));
  OVID_ASSIGN_OR_RETURN(d.head_conv, b.Conv("dec.head.conv"));
  return d;
}

absl::StatusOr<EncoderW> BindEncoder(const Binder& b, const WanVaeConfig& c) {
  EncoderW e;
  OVID_ASSIGN_OR_RETURN(e.conv_in, b.Conv("enc.conv_in"));
  int64_t in = c.enc_in_dim;
  const int n = static_cast<int>(c.enc_stage_dims.size());
  for (int s = 0; s < n; ++s) {
    const bool last = s + 1 == n;
    OVID_ASSIGN_OR_RETURN(
        StageW st, b.Stage("enc.down", s, in, c.enc_stage_dims[s],
                           static_cast<int>(c.num_res_blocks), last, !last && c.enc_temporal[s]));
    in = st.out_dim;
    e.stages.push_back(std::move(st));
  }
  OVID_ASSIGN_OR_RETURN(e.mid0, b.Res("enc.mid.res.0"));
  OVID_ASSIGN_OR_RETURN(e.attn, b.Attn("enc.mid.attn"));
  OVID_ASSIGN_OR_RETURN(e.mid1, b.Res("enc.mid.res.1"));
  OVID_ASSIGN_OR_RETURN(e.head_norm, b.Norm("enc.head.norm.gamma"));
  OVID_ASSIGN_OR_RETURN(e.head_conv, b.Conv("enc.head.conv"));
  OVID_ASSIGN_OR_RETURN(e.quant, b.Conv("quant_conv"));
  return e;
}

}  // namespace

absl::StatusOr<WanVaeWeights> LoadWanVaeWeights(const std::string& path,
                                                const WeightOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16) {
    return absl::InvalidArgumentError("Wan VAE compute dtype must be f32 or bf16");
  }
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<gguf::SafetensorsFile> file,
                        gguf::SafetensorsFile::Open(path));
  std::vector<NamedShape> shapes;
  for (const gguf::SafetensorsTensor& t : file->tensors()) shapes.push_back({t.name, t.shape});
  OVID_ASSIGN_OR_RETURN(ResolvedLayout layout, ResolveWanVaeLayout(shapes, path));

  WanVaeWeights w;
  w.path = path;
  w.layout = layout.layout;
  w.config = layout.config;
  w.device = options.device;
  w.dtype = options.dtype;
  std::map<std::string, at::Tensor> tensors;
  for (const WanVaeTensor& t : layout.tensors) {
    if (!options.load_encoder && IsEncoderTensor(t.logical)) continue;
    const gguf::SafetensorsTensor* st = file->Find(t.file);
    const std::optional<at::ScalarType> dtype = ops::TorchFloatType(st->dtype);
    if (!dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor ", t.file, " is ", gguf::StDtypeName(st->dtype),
                       ", expected a float dtype (F64, F32, F16, BF16, F8)"));
    }
    const std::span<const uint8_t> bytes = file->Data(*st);
    absl::StatusOr<at::Tensor> tensor = ops::GuardTorch("uploading a Wan VAE tensor", [&] {
      // Copied into an aligned buffer: safetensors data need not be aligned to its dtype.
      at::Tensor raw = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
      std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());
      at::Tensor x = raw.view(*dtype).view(st->shape);
      if (options.round_through_bf16) x = x.to(at::kBFloat16);
      return x.to(options.device, options.dtype).contiguous();
    });
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(),
                          absl::StrCat(path, ": tensor ", t.file, ": ", tensor.status().message()));
    }
    w.bytes += tensor->numel() * static_cast<int64_t>(tensor->element_size());
    tensors[t.logical] = *std::move(tensor);
  }
  const Binder binder(tensors, path);
  OVID_ASSIGN_OR_RETURN(w.dec, BindDecoder(binder, w.config));
  if (w.config.has_encoder && options.load_encoder) {
    OVID_ASSIGN_OR_RETURN(EncoderW enc, BindEncoder(binder, w.config));
    w.enc = std::move(enc);
  }
  return w;
}

}  // namespace ovid::wan_vae
