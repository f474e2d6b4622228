// File: tools/ovidctl/embedding.cc
#include "tools/ovidctl/embedding.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/gguf/safetensors_file.h"
#include "kernels/fp16.h"

namespace ovidctl {
namespace {

using ovid::gguf::SafetensorsFile;
using ovid::gguf::SafetensorsTensor;
using ovid::gguf::StDtype;

// Reads element i of a little-endian float tensor as fp32. Element by element with memcpy: the
// mapped data has no alignment guarantee. F64 goes through fp32 first (the same double rounding
// numpy's astype(float32) does in the Python client).
float ElementAsFloat(const uint8_t* data, StDtype dtype, size_t i) {
  switch (dtype) {
    case StDtype::kF64: {
      double d;
      std::memcpy(&d, data + i * 8, 8);
      return static_cast<float>(d);
    }
    case StDtype::kF32: {
      float f;
      std::memcpy(&f, data + i * 4, 4);
      return f;
    }
    case StDtype::kF16: {
      uint16_t h;
      std::memcpy(&h, data + i * 2, 2);
      return ovid::HalfToFloat(h);
    }
    default: {  // kBF16 (checked by the caller)
      uint16_t b;
      std::memcpy(&b, data + i * 2, 2);
      return ovid::Bf16ToFloat(b);
    }
  }
}

absl::StatusOr<ovid::v1::TextEmbedding> ToTextEmbedding(const SafetensorsFile& file,
                                                        const SafetensorsTensor& t) {
  const auto where = [&] { return absl::StrCat(file.path(), ": tensor '", t.name, "'"); };
  if (t.shape.size() != 2 || t.shape[0] < 1 || t.shape[1] < 1) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": shape must be [tokens, dim]"));
  }
  if (t.dtype != StDtype::kF64 && t.dtype != StDtype::kF32 && t.dtype != StDtype::kF16 &&
      t.dtype != StDtype::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": dtype ", StDtypeName(t.dtype),
                                                   " is not a float type (F64, F32, F16, BF16)"));
  }
  if (t.shape[0] > UINT32_MAX || t.shape[1] > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": too large"));
  }
  const uint8_t* src = file.Data(t).data();
  std::string bf16(static_cast<size_t>(t.n_elements) * 2, '\0');
  for (size_t i = 0; i < static_cast<size_t>(t.n_elements); ++i) {
    // BF16 input round-trips exactly (bar a signalling NaN, which comes back quiet).
    const uint16_t b = ovid::FloatToBf16(ElementAsFloat(src, t.dtype, i));
    // Little-endian on the wire, whatever the host.
    bf16[2 * i] = static_cast<char>(b & 0xff);
    bf16[2 * i + 1] = static_cast<char>(b >> 8);
  }
  ovid::v1::TextEmbedding out;
  out.set_bf16(std::move(bf16));
  out.set_tokens(static_cast<uint32_t>(t.shape[0]));
  out.set_dim(static_cast<uint32_t>(t.shape[1]));
  return out;
}

}  // namespace

absl::StatusOr<Embeddings> LoadEmbeddings(const std::string& path) {
  auto file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  Embeddings out;
  bool have_context = false;
  for (const SafetensorsTensor& t : (*file)->tensors()) {
    if (t.name != "context" && t.name != "video_negative" && t.name != "audio_negative") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unexpected tensor '", t.name,
                       "' (expected context, video_negative, audio_negative)"));
    }
    auto emb = ToTextEmbedding(**file, t);
    if (!emb.ok()) return emb.status();
    if (t.name == "context") {
      out.context = *std::move(emb);
      have_context = true;
    } else if (t.name == "video_negative") {
      out.video_negative = *std::move(emb);
    } else {
      out.audio_negative = *std::move(emb);
    }
  }
  if (!have_context) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tensor 'context'"));
  }
  return out;
}

}  // namespace ovidctl
