// File: tools/ovid_gguf/components.cc
#include "tools/ovid_gguf/components.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/models/bigvgan/bigvgan_layout.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"
#include "engine/models/ovi/ovi_layout.h"
#include "engine/models/umt5/umt5_layout.h"
#include "engine/models/wan_vae/wan_vae_keys.h"

namespace ovid::tools {
namespace {

// Error texts of the layout libraries start with the source already; others get it here.
std::string WithSource(std::string_view source, absl::string_view message) {
  const std::string s(source);
  const std::string m(message);
  return m.rfind(s + ":", 0) == 0 ? m : absl::StrCat(s, ": ", m);
}

template <typename Shape>
std::vector<Shape> Convert(const std::vector<NamedShape>& tensors) {
  std::vector<Shape> out;
  out.reserve(tensors.size());
  for (const NamedShape& t : tensors) out.push_back({t.name, t.shape});
  return out;
}

// How many of the file's names `known` holds. A file that fails its component's check (a
// misshaped or missing tensor) still carries that component's names, so detection picks the
// component by them and the check's error is reported; by the check's own count it would be
// picked by nobody and converted unchecked.
size_t CountKnown(const std::vector<NamedShape>& tensors, const std::set<std::string>& known,
                  const std::vector<std::string>& known_prefixes = {}) {
  return std::count_if(tensors.begin(), tensors.end(), [&](const NamedShape& t) {
    return known.contains(t.name) ||
           std::any_of(known_prefixes.begin(), known_prefixes.end(),
                       [&](const std::string& p) { return t.name.starts_with(p); });
  });
}

// Every name the released configurations' layouts hold (the tiny test configurations share
// their structure, so their names too), in each naming the component's files come in.
const std::set<std::string>& WanVaeNames() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    for (const wan_vae::WanVaeLayout layout :
         {wan_vae::WanVaeLayout::kOriginal, wan_vae::WanVaeLayout::kDiffusers}) {
      absl::StatusOr<const wan_vae::KeyTable*> table = wan_vae::BuiltinKeyTable(layout);
      if (!table.ok()) continue;
      absl::StatusOr<std::vector<wan_vae::WanVaeTensor>> tensors =
          wan_vae::BuildWanVaeLayout(wan_vae::WanVaeConfig{}, **table);
      if (!tensors.ok()) continue;
      for (const wan_vae::WanVaeTensor& t : *tensors) out.insert(t.file);
    }
    return out;
  }();
  return names;
}

const std::set<std::string>& MmAudioVaeNames() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    absl::StatusOr<std::vector<mmaudio_vae::MmAudioVaeTensor>> tensors =
        mmaudio_vae::BuildMmAudioVaeLayout(mmaudio_vae::MmAudioVae16kConfig());
    if (tensors.ok()) {
      for (const mmaudio_vae::MmAudioVaeTensor& t : *tensors) out.insert(t.expected.file);
    }
    return out;
  }();
  return names;
}

const std::set<std::string>& BigVganNames() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    for (const bigvgan::WeightForm form :
         {bigvgan::WeightForm::kFolded, bigvgan::WeightForm::kWeightNorm,
          bigvgan::WeightForm::kParametrized}) {
      for (const char* prefix : {"", "generator."}) {
        absl::StatusOr<bigvgan::BigVganLayout> layout =
            bigvgan::BuildBigVganLayout(bigvgan::BigVgan16kConfig(), form, prefix);
        if (!layout.ok()) continue;
        for (const audio::ExpectedTensor& t : layout->tensors) out.insert(t.file);
      }
    }
    return out;
  }();
  return names;
}

KeyReport CheckOvi(const std::vector<NamedShape>& tensors, std::string_view source,
                   const ComponentOptions& options) {
  KeyReport r;
  r.component = "ovi";
  r.layout = "release";
  std::vector<std::string> names;
  for (const NamedShape& t : tensors) {
    names.push_back(t.name);
    if (ovi::ClassifyOviKey(t.name)) ++r.recognized;
  }
  const size_t by_name = r.recognized;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const NamedShape& t : tensors) shapes.emplace(t.name, t.shape);
  const ovi::ShapeLookup shape_of =
      [&](const std::string& key) -> std::optional<std::vector<int64_t>> {
    auto it = shapes.find(key);
    if (it == shapes.end()) return std::nullopt;
    return it->second;
  };
  absl::StatusOr<ovi::OviConfig> config =
      ovi::InferOviConfig(shape_of, names, options.ovi_head_dim);
  absl::Status valid = config.ok() ? config->Validate() : config.status();
  if (!valid.ok()) {
    r.error = WithSource(source, valid.message());
    return r;
  }
  r.config =
      absl::StrCat("dim ", config->dim, ", ", config->num_layers, " layers, ", config->num_heads,
                   " heads x ", config->head_dim, ", ffn ", config->ffn_dim);
  std::vector<ExpectedTensor> expected;
  for (const ovi::OviTensor& t : ovi::BuildOviLayout(*config)) {
    expected.push_back({{t.name}, {t.shape}});
  }
  CompareTensorSets(expected, tensors, &r);
  r.recognized = std::max(r.recognized, by_name);
  return r;
}

KeyReport CheckUmt5(const std::vector<NamedShape>& tensors, std::string_view source,
                    const ComponentOptions&) {
  KeyReport r;
  r.component = "umt5";
  absl::StatusOr<umt5::Umt5FileSpec> spec =
      umt5::ExpectUmt5Tensors(Convert<umt5::NamedShape>(tensors), source);
  if (!spec.ok()) {
    r.error = WithSource(source, spec.status().message());
    for (umt5::Umt5Layout layout : umt5::kAllUmt5Layouts) {
      const size_t n = std::count_if(tensors.begin(), tensors.end(), [&](const NamedShape& t) {
        return umt5::MatchUmt5Key(layout, t.name).has_value();
      });
      r.recognized = std::max(r.recognized, n);
    }
    return r;
  }
  r.layout = umt5::Umt5LayoutName(spec->layout);
  const umt5::Umt5Config& c = spec->config;
  r.config = absl::StrCat("vocab ", c.vocab, ", d_model ", c.d_model, ", ", c.layers, " layers, ",
                          c.heads, " heads x ", c.d_kv, ", d_ff ", c.d_ff);
  std::vector<ExpectedTensor> expected;
  for (const umt5::Umt5Tensor& t : spec->tensors) expected.push_back({t.names, {t.shape}});
  CompareTensorSets(expected, tensors, &r);
  return r;
}

KeyReport CheckWanVae(const std::vector<NamedShape>& tensors, std::string_view source,
                      const ComponentOptions&) {
  KeyReport r;
  r.component = "wan_vae";
  absl::StatusOr<wan_vae::ResolvedLayout> resolved = wan_vae::ExpectWanVaeLayout(
      Convert<wan_vae::NamedShape>(tensors), absl::string_view(source.data(), source.size()));
  if (!resolved.ok()) {
    r.error = WithSource(source, resolved.status().message());
    r.recognized = CountKnown(tensors, WanVaeNames());
    return r;
  }
  r.layout = wan_vae::WanVaeLayoutName(resolved->layout);
  const wan_vae::WanVaeConfig& c = resolved->config;
  r.config = absl::StrCat("z_dim ", c.z_dim, ", decoder [", absl::StrJoin(c.dec_stage_dims, ", "),
                          "]", c.has_encoder ? ", with encoder" : ", decoder only");
  std::vector<ExpectedTensor> expected;
  for (const wan_vae::WanVaeTensor& t : resolved->tensors)
    expected.push_back({{t.file}, {t.shape}});
  CompareTensorSets(expected, tensors, &r);
  return r;
}

// The audio decoders' layout libraries offer only the checked resolve (one error listing every
// problem), so their reports carry that error instead of lists. TODO(structured): once they
// expose the expected set without the check (as ExpectWanVaeLayout does), compare it with
// CompareTensorSets like the entries above.
template <typename Resolved>
KeyReport FromResolve(const char* component, std::string_view source,
                      const std::vector<NamedShape>& tensors,
                      const absl::StatusOr<Resolved>& resolved, std::string layout,
                      const std::set<std::string>& known,
                      const std::vector<std::string>& ignored = {}) {
  KeyReport r;
  r.component = component;
  if (!resolved.ok()) {
    r.error = WithSource(source, resolved.status().message());
    r.recognized = CountKnown(tensors, known, ignored);
    return r;
  }
  r.layout = std::move(layout);
  r.recognized = tensors.size();
  return r;
}

KeyReport CheckMmAudioVae(const std::vector<NamedShape>& tensors, std::string_view source,
                          const ComponentOptions&) {
  auto resolved = mmaudio_vae::ResolveMmAudioVaeLayout(
      Convert<audio::NamedShape>(tensors), absl::string_view(source.data(), source.size()));
  // The encoder's tensors, which the file holds and ovid ignores, are the component's names too,
  // but only beside MMAudio's own normalisation buffers: other VAEs of the latent-diffusion
  // family (SD, SDXL, Flux) have encoder.* tensors as well, and share some decoder names.
  const bool mmaudio_marked = std::any_of(tensors.begin(), tensors.end(), [](const NamedShape& t) {
    return t.name == "data_mean" || t.name == "data_std";
  });
  absl::StatusOr<const audio::AudioKeyTable*> table = mmaudio_vae::MmAudioVaeKeyTable();
  KeyReport r =
      FromResolve("mmaudio_vae", source, tensors, resolved, "original", MmAudioVaeNames(),
                  table.ok() && mmaudio_marked ? (*table)->ignored : std::vector<std::string>{});
  if (resolved.ok()) {
    r.config = absl::StrCat("hidden ", resolved->config.hidden, ", embed ",
                            resolved->config.embed_dim, ", ", resolved->config.data_dim, " mels, ",
                            resolved->ignored.size(), " encoder tensors ignored");
  }
  return r;
}

KeyReport CheckBigVgan(const std::vector<NamedShape>& tensors, std::string_view source,
                       const ComponentOptions&) {
  auto resolved = bigvgan::ResolveBigVganLayout(Convert<audio::NamedShape>(tensors),
                                                absl::string_view(source.data(), source.size()));
  std::string layout;
  if (resolved.ok()) {
    layout = resolved->prefix.empty() ? "no prefix" : absl::StrCat("prefix ", resolved->prefix);
    if (!resolved->convs.empty()) {
      absl::StrAppend(&layout, ", ", bigvgan::WeightFormName(resolved->convs[0].form));
    }
  }
  KeyReport r = FromResolve("bigvgan", source, tensors, resolved, layout, BigVganNames());
  if (resolved.ok()) {
    r.config = absl::StrCat("initial channel ", resolved->config.initial_channel, ", ",
                            resolved->config.Stages(), " upsampling stages");
  }
  return r;
}

}  // namespace

const std::vector<Component>& Components() {
  static const std::vector<Component> kComponents = {
      {"ovi", "Ovi fusion denoiser (release safetensors names)", CheckOvi},
      {"umt5", "UMT5-XXL text encoder (pth, hf or gguf names)", CheckUmt5},
      {"wan_vae", "Wan2.2 VAE (original or diffusers names)", CheckWanVae},
      {"mmaudio_vae", "MMAudio 16 kHz VAE decoder (v1-16.pth names)", CheckMmAudioVae},
      {"bigvgan", "BigVGAN v1 16 kHz generator (best_netG.pt['generator'] names)", CheckBigVgan},
  };
  return kComponents;
}

const Component* FindComponent(std::string_view name) {
  for (const Component& c : Components()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string ComponentNames() {
  std::vector<std::string> names;
  for (const Component& c : Components()) names.push_back(c.name);
  return absl::StrJoin(names, ", ");
}

const Component* DetectComponent(const std::vector<NamedShape>& tensors,
                                 const ComponentOptions& options) {
  const Component* best = nullptr;
  size_t best_count = 0;
  for (const Component& c : Components()) {
    const size_t n = c.check(tensors, "", options).recognized;
    if (n > best_count) best = &c, best_count = n;
  }
  return best_count * 2 > tensors.size() ? best : nullptr;
}

}  // namespace ovid::tools
