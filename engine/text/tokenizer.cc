// File: engine/text/tokenizer.cc
#include "engine/text/tokenizer.h"

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/text/sentencepiece_model.h"
#include "engine/text/utf8.h"

namespace ovid::text {

Tokenizer::Tokenizer(std::unique_ptr<SentencePieceModel> model, int64_t max_length)
    : model_(std::move(model)),
      eos_id_(model_->eos_id()),
      pad_id_(model_->pad_id()),
      vocab_size_(model_->piece_count()),
      max_length_(max_length) {}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<Tokenizer> Tokenizer::FromFile(const std::string& path, int64_t max_length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("tokenizer model ", path, ": cannot open the file"));
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("tokenizer model ", path, ": read failed"));
  }
  return FromSerialized(bytes, path, max_length);
}

absl::StatusOr<Tokenizer> Tokenizer::FromSerialized(std::string_view model_bytes,
                                                    std::string_view origin, int64_t max_length) {
  const std::string name(origin);
  if (max_length < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model ", name, ": max_length ", max_length,
                     " leaves no room for a token and </s> (at least 2)"));
  }
  // An empty buffer parses as an empty ModelProto, which SentencePiece rejects with a message
  // about its internals; say plainly what is wrong instead.
  if (model_bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model ", name, ": empty, not a SentencePiece model"));
  }
  std::string error;
  std::unique_ptr<SentencePieceModel> model = SentencePieceModel::Load(model_bytes, &error);
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model ", name, ": not a usable SentencePiece model: ", error));
  }
  if (model->eos_id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer model ", name, ": has no </s> piece, which every encoded prompt ends with"));
  }
  return Tokenizer(std::move(model), max_length);
}

absl::StatusOr<TokenizedText> Tokenizer::Encode(std::string_view text) const {
  if (absl::Status valid = ValidateUtf8(text, "prompt text"); !valid.ok()) return valid;
  std::vector<int> pieces;
  std::string error;
  if (!model_->Encode(text, &pieces, &error)) {
    return absl::InternalError(
        absl::StrCat("SentencePiece could not encode the prompt text: ", error));
  }
  TokenizedText out;
  out.text_tokens = static_cast<int64_t>(pieces.size());
  // Hugging Face's truncation=True with add_special_tokens: the pieces are cut so that the
  // pieces plus </s> fill max_length, never the </s> itself.
  const int64_t room = max_length_ - 1;
  out.truncated = out.text_tokens > room;
  if (out.truncated) pieces.resize(static_cast<size_t>(room));
  out.ids.assign(pieces.begin(), pieces.end());
  out.ids.push_back(eos_id_);
  out.attention_length = static_cast<int64_t>(out.ids.size());
  return out;
}

}  // namespace ovid::text
