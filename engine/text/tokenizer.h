// File: engine/text/tokenizer.h
// The UMT5 tokenizer (spec encoders.md §1): a SentencePiece unigram model, google/umt5-xxl's
// `spiece.model`, through libsentencepiece. Encode does what the original's call does,
//   tokenizer(texts, padding='max_length', truncation=True, max_length=512,
//             add_special_tokens=True)
// for one already cleaned text: the pieces' ids, cut to max_length - 1 when longer (Hugging
// Face truncates the text, then appends </s>, so the </s> is always there), then </s> (the
// model's own eos id, 1 for umt5). Over-long text is truncated, as in the original, and reported
// in TokenizedText (`truncated`, `text_tokens`) so the caller can say so; it is not an error.
// The padding is left out: the original discards the padded rows (`u[:v]` with v = the mask's
// sum), so `attention_length`, the number of real tokens with </s>, is all the encoder needs.
//
// Sources of the model: a file (`spiece.model`) or the serialized ModelProto bytes, for a
// container that embeds one. UMT5 GGUF files (city96's, from llama.cpp) carry no serialized
// model, only the vocabulary as arrays (tokenizer.ggml.tokens/scores/token_type, spec §7);
// rebuilding a ModelProto from those is not implemented (see README "Prompt text").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovid::text {

class SentencePieceModel;

struct TokenizedText {
  std::vector<int32_t> ids;      // the real tokens, </s> last; no padding
  int64_t attention_length = 0;  // ids.size(): the sum of the original's attention mask
  int64_t text_tokens = 0;       // pieces the text gave before truncation (without </s>)
  bool truncated = false;        // text_tokens > max_length - 1: the tail was cut
};

class Tokenizer {
 public:
  // UMT5's text length in Ovi (the T5 call's max_length and the DiT's text_len).
  static constexpr int64_t kDefaultMaxLength = 512;

  // NOT_FOUND when the file cannot be read; otherwise as FromSerialized, naming the path.
  static absl::StatusOr<Tokenizer> FromFile(const std::string& path,
                                            int64_t max_length = kDefaultMaxLength);
  // INVALID_ARGUMENT naming `origin` when the bytes are not a SentencePiece model, the model has
  // no </s> piece, or max_length < 2 (room for one piece and </s>).
  static absl::StatusOr<Tokenizer> FromSerialized(std::string_view model_bytes,
                                                  std::string_view origin,
                                                  int64_t max_length = kDefaultMaxLength);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The ids of `text` exactly as given (clean it first: CleanPrompt, or TokenizePrompt).
  // INVALID_ARGUMENT when the text is not valid UTF-8. Safe to call from several threads.
  absl::StatusOr<TokenizedText> Encode(std::string_view text) const;

  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }  // -1 when the model defines none
  int64_t vocab_size() const { return vocab_size_; }
  int64_t max_length() const { return max_length_; }

 private:
  Tokenizer(std::unique_ptr<SentencePieceModel> model, int64_t max_length);

  std::unique_ptr<SentencePieceModel> model_;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  int64_t vocab_size_ = 0;
  int64_t max_length_ = kDefaultMaxLength;
};

}  // namespace ovid::text
