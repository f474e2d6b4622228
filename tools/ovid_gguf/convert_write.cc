// File: tools/ovid_gguf/convert_write.cc
#include "tools/ovid_gguf/convert_write.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/safetensors_stream_writer.h"
#include "kernels/fp16.h"

namespace ovid::tools {
namespace {

using gguf::StDtype;

// The GGUF type a dtype is stored as, or nullopt for non-float dtypes.
std::optional<GgmlType> GgufType(StDtype d) {
  switch (d) {
    case StDtype::kF32:
    case StDtype::kF64:  // ovid has no F64 kernels
      return GgmlType::kF32;
    case StDtype::kF16:
      return GgmlType::kF16;
    case StDtype::kBF16:
    case StDtype::kF8E4M3:  // every FP8 value is exact in BF16
    case StDtype::kF8E5M2:
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

// Values past F32's range become +-inf, as a cast makes them; a warning names the tensor, since
// a model with infinities in its weights is broken.
void F64ToF32(const std::string& tensor, std::span<const uint8_t> src, std::vector<uint8_t>* out) {
  out->resize(src.size() / 2);
  int64_t overflowed = 0;
  for (size_t i = 0; i < src.size() / 8; ++i) {
    double d;
    std::memcpy(&d, src.data() + 8 * i, 8);
    const float f = static_cast<float>(d);
    overflowed += std::isfinite(d) && std::isinf(f);
    std::memcpy(out->data() + 4 * i, &f, 4);
  }
  if (overflowed > 0) {
    std::fprintf(stderr,
                 "ovid-gguf convert: warning: tensor '%s': %lld finite F64 values are beyond "
                 "F32's range and became +-inf\n",
                 tensor.c_str(), static_cast<long long>(overflowed));
  }
}

void Fp8ToBf16(StDtype dtype, std::span<const uint8_t> src, std::vector<uint8_t>* out) {
  out->resize(src.size() * 2);
  for (size_t i = 0; i < src.size(); ++i) {
    // E5M2 is the top byte of an IEEE half.
    const float f = dtype == StDtype::kF8E4M3 ? E4M3ToFloat(src[i])
                                              : HalfToFloat(static_cast<uint16_t>(src[i] << 8));
    const uint16_t b = FloatToBf16(f);
    std::memcpy(out->data() + 2 * i, &b, 2);
  }
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

size_t CountF64(const TensorSource& src) {
  size_t n = 0;
  for (const SourceTensor& t : src.tensors) n += t.dtype == StDtype::kF64;
  return n;
}

absl::Status CheckGgufOutput(const TensorSource& src, const std::string& out) {
  std::vector<std::string> bad_dtypes, long_names;
  for (const SourceTensor& t : src.tensors) {
    if (!t.dtype || !GgufType(*t.dtype)) {
      bad_dtypes.push_back(absl::StrCat(t.name, " (", t.type_name, ")"));
    }
    if (t.name.size() > gguf::kMaxNameBytes) {
      long_names.push_back(absl::StrCat("'", t.name, "' (", t.name.size(), " bytes)"));
    }
  }
  if (!bad_dtypes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        src.path, ": tensors with a non-float dtype: ", absl::StrJoin(bad_dtypes, ", ")));
  }
  if (!long_names.empty()) {
    const size_t shown = std::min<size_t>(long_names.size(), 3);
    return absl::InvalidArgumentError(absl::StrCat(
        out, ": ", long_names.size(), " tensor names are longer than GGUF's ", gguf::kMaxNameBytes,
        "-byte limit (", absl::StrJoin(long_names.begin(), long_names.begin() + shown, ", "),
        long_names.size() > shown ? ", ..." : "",
        "); write a .safetensors file instead, which has no such limit"));
  }
  return absl::OkStatus();
}

absl::Status WriteGgufOutput(const TensorSource& src, const std::string& out,
                             const std::vector<std::pair<std::string, gguf::Value>>& metadata) {
  if (absl::Status s = CheckGgufOutput(src, out); !s.ok()) return s;
  gguf::GgufWriter writer;
  std::map<GgmlType, int64_t> elements_by_type;
  for (const SourceTensor& t : src.tensors) {
    const GgmlType type = *GgufType(*t.dtype);
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    if (absl::Status s = writer.AddTensor(t.name, type, std::move(ne)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(out, ": ", s.message()));
    }
    elements_by_type[type] += Elements(t.shape);
  }
  // general.file_type names the majority type, as llama.cpp's convert scripts do.
  GgmlType majority = GgmlType::kBF16;
  int64_t most = -1;
  for (const auto& [type, n] : elements_by_type) {
    if (n > most) most = n, majority = type;
  }
  const uint32_t file_type = majority == GgmlType::kF32 ? 0 : majority == GgmlType::kF16 ? 1 : 32;
  for (const auto& [key, value] : metadata) {
    if (absl::Status s = writer.AddMetadata(key, value); !s.ok()) return s;
  }
  if (absl::Status s = writer.AddMetadata("general.file_type", gguf::Value::U32(file_type));
      !s.ok()) {
    return s;
  }
  std::map<std::string, const SourceTensor*> by_name;
  for (const SourceTensor& t : src.tensors) by_name[t.name] = &t;
  std::vector<uint8_t> scratch;
  return writer.Write(out,
                      [&](const gguf::GgufWriter::PlannedTensor& p, std::vector<uint8_t>* buf) {
                        const SourceTensor& t = *by_name.at(p.name);
                        const std::span<const uint8_t> bytes = t.data(&scratch);
                        if (*t.dtype == StDtype::kF64) {
                          F64ToF32(t.name, bytes, buf);
                        } else if (*t.dtype == StDtype::kF8E4M3 || *t.dtype == StDtype::kF8E5M2) {
                          Fp8ToBf16(*t.dtype, bytes, buf);
                        } else {
                          buf->assign(bytes.begin(), bytes.end());
                        }
                        return absl::OkStatus();
                      });
}

absl::Status WriteSafetensorsOutput(const TensorSource& src, const std::string& out,
                                    const std::map<std::string, std::string>& metadata) {
  std::vector<gguf::SafetensorsPlan> plan;
  for (const SourceTensor& t : src.tensors) {
    if (!t.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          src.path, ": tensor '", t.name, "' is ", t.type_name, ", which safetensors cannot hold"));
    }
    const StDtype stored = *t.dtype == StDtype::kF64 ? StDtype::kF32 : *t.dtype;
    plan.push_back({t.name, gguf::StDtypeName(stored), t.shape,
                    static_cast<uint64_t>(Elements(t.shape)) * gguf::StDtypeBytes(stored)});
  }
  std::vector<uint8_t> narrowed;
  return gguf::WriteSafetensorsStreaming(
      out, plan, metadata,
      [&](size_t i, std::vector<uint8_t>* scratch) -> absl::StatusOr<std::span<const uint8_t>> {
        const SourceTensor& t = src.tensors[i];
        const std::span<const uint8_t> bytes = t.data(scratch);
        if (*t.dtype != StDtype::kF64) return bytes;
        F64ToF32(t.name, bytes, &narrowed);
        return std::span<const uint8_t>(narrowed);
      });
}

}  // namespace ovid::tools
