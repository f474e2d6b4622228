// File: engine/text/sentencepiece_model.h
// A SentencePiece unigram model for encoding, ovid's own (no libsentencepiece at run time: its
// builtin protobuf-lite 3.14 aborts a process that also links gRPC's libprotobuf 3.21, and the
// GPU image would need the library). It is the normalizer (spm_normalizer.h) followed by the
// unigram segmentation (spm_unigram.h), loaded from a serialized ModelProto (spm_model_proto.h)
// or from vocabulary arrays such as a GGUF's tokenizer metadata.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/spm_model_proto.h"
#include "engine/text/spm_normalizer.h"
#include "engine/text/spm_unigram.h"

namespace ovid::text {

class SentencePieceModel {
 public:
  // INVALID_ARGUMENT naming `origin`: malformed bytes (with their offset), a model that is not
  // unigram, or one SentencePiece itself would refuse (see SpmUnigram::Create).
  static absl::StatusOr<std::unique_ptr<SentencePieceModel>> Load(std::string_view serialized,
                                                                  std::string_view origin);
  // The same from its parts (ModelProto's fields, already decoded).
  static absl::StatusOr<std::unique_ptr<SentencePieceModel>> FromProto(SpmModelProto proto,
                                                                       std::string_view origin);

  // The pieces' ids of valid UTF-8 `text` (no special tokens added).
  std::vector<int> Encode(std::string_view text) const;
  // The normalized text the pieces are cut from (U+2581 for spaces), for tests and debugging.
  std::string Normalize(std::string_view text) const { return normalizer_.Normalize(text); }

  // SentencePiece's special ids: the id of the trainer's </s> (<pad>, <s>) piece if that piece
  // is a CONTROL piece, else -1.
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  int bos_id() const { return bos_id_; }
  int unk_id() const { return unigram_.unk_id(); }
  int piece_count() const { return static_cast<int>(unigram_.pieces().size()); }

 private:
  SentencePieceModel(SpmNormalizer normalizer, SpmUnigram unigram)
      : normalizer_(std::move(normalizer)), unigram_(std::move(unigram)) {}

  SpmNormalizer normalizer_;
  SpmUnigram unigram_;
  int eos_id_ = -1;
  int pad_id_ = -1;
  int bos_id_ = -1;
};

}  // namespace ovid::text
