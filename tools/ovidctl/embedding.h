// File: tools/ovidctl/embedding.h
// `generate --embedding FILE.safetensors`: text embeddings computed elsewhere (UMT5-XXL output),
// as the TextEmbedding messages of the request. The file holds `context` and optionally
// `video_negative` and `audio_negative`, each [tokens, dim] in any float dtype; they are sent as
// row-major little-endian bf16, rounded to nearest even.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ovid/v1/generation.pb.h"

namespace ovidctl {

struct Embeddings {
  ovid::v1::TextEmbedding context;
  std::optional<ovid::v1::TextEmbedding> video_negative;
  std::optional<ovid::v1::TextEmbedding> audio_negative;
};

// Errors name the file and the tensor: a missing `context`, an unknown tensor name, a shape
// that is not 2-D, a dtype that is not F64/F32/F16/BF16.
absl::StatusOr<Embeddings> LoadEmbeddings(const std::string& path);

}  // namespace ovidctl
