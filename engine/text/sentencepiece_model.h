// File: engine/text/sentencepiece_model.h
// libsentencepiece behind std types only. Debian 12's sentencepiece_processor.h declares
// `namespace absl { using std::string_view; }`, which collides with Debian's abseil (built with
// its own absl::string_view class), so no file may include both; this wrapper's .cc includes
// SentencePiece and nothing of abseil, and the rest of engine/text never sees SentencePiece.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace ovid::text {

class SentencePieceModel {
 public:
  // Null with *error set when `serialized` is not a loadable ModelProto.
  static std::unique_ptr<SentencePieceModel> Load(std::string_view serialized, std::string* error);
  ~SentencePieceModel();

  // The pieces' ids of `text` (no special tokens added); false with *error set on failure.
  bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const;

  int eos_id() const;  // -1 when the model has no </s>
  int pad_id() const;  // -1 when the model has no <pad>
  int piece_count() const;

 private:
  explicit SentencePieceModel(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor);
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace ovid::text
