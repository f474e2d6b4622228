// File: engine/text/tokenizer.h
// The UMT5 tokenizer (spec encoders.md §1): a SentencePiece unigram model, google/umt5-xxl's
// `spiece.model`, run by ovid's own SentencePiece encoder. Encode does what the original's call
// does,
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
// container that embeds one, or the vocabulary as arrays (TokenizerVocabulary), as UMT5 GGUF
// files (city96's, from llama.cpp) carry it (tokenizer.ggml.tokens/scores/token_type, spec §7).
// The encoder is ovid's own SentencePiece unigram implementation (sentencepiece_model.h), not
// libsentencepiece.
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

// A SentencePiece unigram vocabulary as arrays: a GGUF's tokenizer metadata (llama.cpp's keys in
// the comments). Token types are SentencePiece's (1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED,
// 5 UNUSED, 6 BYTE; byte fallback is on when BYTE tokens exist). Without precompiled_charsmap
// the text gets no character normalization (SentencePiece's "identity"), only the whitespace
// rules, which differs from umt5's nmt_nfkc on text that NFKC would change (README "Prompt
// text"); llama.cpp's converter writes the charsmap when the source model has one.
struct TokenizerVocabulary {
  std::vector<std::string> tokens;       // tokenizer.ggml.tokens
  std::vector<float> scores;             // tokenizer.ggml.scores
  std::vector<int32_t> token_types;      // tokenizer.ggml.token_type
  bool add_space_prefix = true;          // tokenizer.ggml.add_space_prefix
  bool remove_extra_whitespaces = true;  // tokenizer.ggml.remove_extra_whitespaces
  std::string precompiled_charsmap;      // tokenizer.ggml.precompiled_charsmap; may be empty
  int32_t eos_id = -1;  // tokenizer.ggml.eos_token_id; -1: the CONTROL piece "</s>"
  int32_t pad_id = -1;  // tokenizer.ggml.padding_token_id; -1: the CONTROL piece "<pad>"
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

  // INVALID_ARGUMENT naming `origin` when the arrays differ in length, a type is not 1..6, an
  // eos/pad id is out of range, or the vocabulary is not a usable unigram model (as above).
  static absl::StatusOr<Tokenizer> FromVocabulary(const TokenizerVocabulary& vocabulary,
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
  // The checks every source shares (max_length, </s>), then the Tokenizer.
  static absl::StatusOr<Tokenizer> FromModel(
      absl::StatusOr<std::unique_ptr<SentencePieceModel>> model, const std::string& name,
      int64_t max_length, int32_t eos_id = -1, int32_t pad_id = -1);

  std::unique_ptr<SentencePieceModel> model_;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  int64_t vocab_size_ = 0;
  int64_t max_length_ = kDefaultMaxLength;
};

}  // namespace ovid::text
