// `ovid-gguf convert IN.safetensors OUT.gguf [--variant V] [--head-dim N] [--text-len N]
// [--audio-rope-scale X]`: an Ovi checkpoint in the official release format -> a GGUF ovid
// loads. Key names and dtypes are kept (BF16/F16/F32 as they are; F64 becomes F32, FP8 becomes
// BF16, both to stay loadable); the Conv3d patch embedding keeps its 5 dims. The checkpoint is
// checked against ovi_layout first, so a wrong file fails before anything is written.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/models/ovi/ovi_layout.h"
#include "kernels/fp16.h"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "convert";
constexpr char kUsage[] =
    "usage: ovid-gguf convert IN.safetensors OUT.gguf [--variant 720x720_5s|960x960_5s|"
    "960x960_10s]\n"
    "                         [--head-dim N] [--text-len N] [--audio-rope-scale X]\n"
    "  Defaults are Ovi's: variant 720x720_5s, head_dim 128, text_len 512, scale 0.19676.\n";

struct ConvertOptions {
  std::string variant = "720x720_5s";
  int64_t head_dim = 128;
  int64_t text_len = 512;
  double audio_rope_scale = 0.19676;
};

// The GGUF type a safetensors dtype is stored as, or nullopt for non-float dtypes.
std::optional<GgmlType> StoredType(gguf::StDtype d) {
  switch (d) {
    case gguf::StDtype::kF32:
      return GgmlType::kF32;
    case gguf::StDtype::kF16:
      return GgmlType::kF16;
    case gguf::StDtype::kBF16:
      return GgmlType::kBF16;
    case gguf::StDtype::kF64:
      return GgmlType::kF32;  // ovid has no F64 kernels
    case gguf::StDtype::kF8E4M3:
      return GgmlType::kBF16;  // every FP8 value is exact in BF16
    case gguf::StDtype::kF8E5M2:
      return GgmlType::kBF16;
    default:
      return std::nullopt;
  }
}

// float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN.
float E4M3ToFloat(uint8_t b) {
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  const int exp = (b >> 3) & 0xf;
  const int mant = b & 0x7;
  if (exp == 0xf && mant == 0x7) return std::nanf("");
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -9);
  return sign * std::ldexp(static_cast<float>(8 + mant), exp - 10);
}

void EncodeData(gguf::StDtype dtype, std::span<const uint8_t> src, std::vector<uint8_t>* out) {
  if (dtype == gguf::StDtype::kF64) {
    out->resize(src.size() / 2);
    for (size_t i = 0; i < src.size() / 8; ++i) {
      double d;
      std::memcpy(&d, src.data() + 8 * i, 8);
      const float f = static_cast<float>(d);
      std::memcpy(out->data() + 4 * i, &f, 4);
    }
  } else if (dtype == gguf::StDtype::kF8E4M3 || dtype == gguf::StDtype::kF8E5M2) {
    out->resize(src.size() * 2);
    for (size_t i = 0; i < src.size(); ++i) {
      // E5M2 is the top byte of an IEEE half.
      const float f = dtype == gguf::StDtype::kF8E4M3
                          ? E4M3ToFloat(src[i])
                          : HalfToFloat(static_cast<uint16_t>(src[i] << 8));
      const uint16_t b = FloatToBf16(f);
      std::memcpy(out->data() + 2 * i, &b, 2);
    }
  } else {
    out->assign(src.begin(), src.end());
  }
}

absl::Status Convert(const std::string& in, const std::string& out, const ConvertOptions& opt) {
  absl::StatusOr<std::unique_ptr<gguf::SafetensorsFile>> opened = gguf::SafetensorsFile::Open(in);
  if (!opened.ok()) return opened.status();
  const gguf::SafetensorsFile& st = **opened;

  std::vector<ovi::NamedShape> actual;
  std::vector<std::string> names;
  std::vector<std::string> bad_dtypes;
  for (const gguf::SafetensorsTensor& t : st.tensors()) {
    actual.push_back({t.name, t.shape});
    names.push_back(t.name);
    if (!StoredType(t.dtype)) {
      bad_dtypes.push_back(absl::StrCat(t.name, " (", gguf::StDtypeName(t.dtype), ")"));
    }
  }
  if (!bad_dtypes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(in, ": tensors with a non-float dtype: ", absl::StrJoin(bad_dtypes, ", ")));
  }
  const ovi::ShapeLookup shape_of =
      [&](const std::string& key) -> std::optional<std::vector<int64_t>> {
    const gguf::SafetensorsTensor* t = st.Find(key);
    if (t == nullptr) return std::nullopt;
    return t->shape;
  };
  absl::StatusOr<ovi::OviConfig> config = ovi::InferOviConfig(shape_of, names, opt.head_dim);
  if (!config.ok())
    return absl::InvalidArgumentError(absl::StrCat(in, ": ", config.status().message()));
  if (absl::Status s = config->Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(in, ": ", s.message()));
  }
  if (absl::Status s = ovi::CheckOviTensors(ovi::BuildOviLayout(*config), actual, in); !s.ok()) {
    return s;
  }

  gguf::GgufWriter writer;
  std::map<GgmlType, int64_t> elements_by_type;
  for (const gguf::SafetensorsTensor& t : st.tensors()) {
    const GgmlType type = *StoredType(t.dtype);
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    if (absl::Status s = writer.AddTensor(t.name, type, std::move(ne)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(out, ": ", s.message()));
    }
    elements_by_type[type] += t.n_elements;
  }
  // general.file_type names the majority type, as llama.cpp's convert scripts do.
  GgmlType majority = GgmlType::kBF16;
  int64_t most = -1;
  for (const auto& [type, n] : elements_by_type) {
    if (n > most) most = n, majority = type;
  }
  const uint32_t file_type = majority == GgmlType::kF32 ? 0 : majority == GgmlType::kF16 ? 1 : 32;
  const std::pair<std::string, gguf::Value> metadata[] = {
      {"general.architecture", gguf::Value::Str("ovi")},
      {"general.name", gguf::Value::Str(absl::StrCat("Ovi ", opt.variant))},
      {"general.file_type", gguf::Value::U32(file_type)},
      {"general.quantization_version", gguf::Value::U32(2)},
      {"ovi.variant", gguf::Value::Str(opt.variant)},
      {"ovi.head_dim", gguf::Value::U32(static_cast<uint32_t>(opt.head_dim))},
      {"ovi.audio_rope_scale", gguf::Value::F32(static_cast<float>(opt.audio_rope_scale))},
      {"ovi.text_len", gguf::Value::U32(static_cast<uint32_t>(opt.text_len))},
  };
  for (const auto& [key, value] : metadata) {
    if (absl::Status s = writer.AddMetadata(key, value); !s.ok()) return s;
  }
  if (absl::Status s =
          writer.Write(out,
                       [&](const gguf::GgufWriter::PlannedTensor& p, std::vector<uint8_t>* buf) {
                         const gguf::SafetensorsTensor* t = st.Find(p.name);
                         EncodeData(t->dtype, st.Data(*t), buf);
                         return absl::OkStatus();
                       });
      !s.ok()) {
    return s;
  }
  std::printf(
      "converted %s -> %s: %zu tensors, Ovi %s (dim %lld, %lld layers, %lld heads x %lld)\n",
      in.c_str(), out.c_str(), st.tensors().size(), opt.variant.c_str(),
      static_cast<long long>(config->dim), static_cast<long long>(config->num_layers),
      static_cast<long long>(config->num_heads), static_cast<long long>(config->head_dim));
  return absl::OkStatus();
}

absl::StatusOr<ConvertOptions> ReadOptions(const ParsedArgs& args) {
  ConvertOptions opt;
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
    absl::StatusOr<int64_t> n = ParseInt("--head-dim", *v, 1);
    if (!n.ok()) return n.status();
    opt.head_dim = *n;
  }
  if (std::optional<std::string> v = args.Get("--text-len")) {
    absl::StatusOr<int64_t> n = ParseInt("--text-len", *v, 1);
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
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"--variant", "--head-dim", "--text-len", "--audio-rope-scale"}, {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 2) {
    return UsageError(kCommand, "expected IN.safetensors and OUT.gguf", kUsage);
  }
  absl::StatusOr<ConvertOptions> opt = ReadOptions(*parsed);
  if (!opt.ok()) return UsageError(kCommand, std::string(opt.status().message()), kUsage);
  const absl::Status s = Convert(parsed->positional[0], parsed->positional[1], *opt);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
