// File: engine/text/tokenizer.cc
#include "engine/text/tokenizer.h"

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/text/sentencepiece_model.h"
#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

// max_length is checked first, before any parsing.
absl::Status CheckMaxLength(const std::string& name, int64_t max_length) {
  if (max_length >= 2) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer model ", name, ": max_length ", max_length,
                   " leaves no room for a token and </s> (at least 2)"));
}

}  // namespace

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

absl::StatusOr<Tokenizer> Tokenizer::FromModel(
    absl::StatusOr<std::unique_ptr<SentencePieceModel>> model, const std::string& name,
    int64_t max_length, int32_t eos_id, int32_t pad_id) {
  if (!model.ok()) return model.status();
  const int32_t pieces = (*model)->piece_count();
  for (const int32_t id : {eos_id, pad_id}) {
    if (id < -1 || id >= pieces) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer model ", name, ": special id ", id,
                                                     " is outside the ", pieces, " pieces"));
    }
  }
  if (eos_id < 0) eos_id = (*model)->eos_id();
  if (pad_id < 0) pad_id = (*model)->pad_id();
  if (eos_id < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer model ", name, ": has no </s> piece, which every encoded prompt ends with"));
  }
  Tokenizer tokenizer(std::move(*model), max_length);
  tokenizer.eos_id_ = eos_id;
  tokenizer.pad_id_ = pad_id;
  return tokenizer;
}

absl::StatusOr<Tokenizer> Tokenizer::FromSerialized(std::string_view model_bytes,
                                                    std::string_view origin, int64_t max_length) {
  const std::string name(origin);
  if (absl::Status s = CheckMaxLength(name, max_length); !s.ok()) return s;
  // An empty buffer parses as an empty ModelProto; say plainly what is wrong.
  if (model_bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model ", name, ": empty, not a SentencePiece model"));
  }
  return FromModel(SentencePieceModel::Load(model_bytes, absl::StrCat("tokenizer model ", name)),
                   name, max_length);
}

absl::StatusOr<Tokenizer> Tokenizer::FromVocabulary(const TokenizerVocabulary& vocabulary,
                                                    std::string_view origin, int64_t max_length) {
  const std::string name(origin);
  if (absl::Status s = CheckMaxLength(name, max_length); !s.ok()) return s;
  const size_t n = vocabulary.tokens.size();
  if (vocabulary.scores.size() != n || vocabulary.token_types.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model ", name, ": ", n, " tokens but ", vocabulary.scores.size(),
                     " scores and ", vocabulary.token_types.size(), " token types"));
  }
  SpmModelProto proto;
  proto.pieces.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t type = vocabulary.token_types[i];
    if (type < 1 || type > 6) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer model ", name, ": token ", i,
                                                     " has type ", type, ", not one of 1..6"));
    }
    proto.pieces[i] = {vocabulary.tokens[i], vocabulary.scores[i], static_cast<SpmPieceType>(type)};
    if (proto.pieces[i].type == SpmPieceType::kByte) proto.trainer.byte_fallback = true;
  }
  proto.normalizer.precompiled_charsmap = vocabulary.precompiled_charsmap;
  proto.normalizer.add_dummy_prefix = vocabulary.add_space_prefix;
  proto.normalizer.remove_extra_whitespaces = vocabulary.remove_extra_whitespaces;
  return FromModel(
      SentencePieceModel::FromProto(std::move(proto), absl::StrCat("tokenizer model ", name)), name,
      max_length, vocabulary.eos_id, vocabulary.pad_id);
}

absl::StatusOr<TokenizedText> Tokenizer::Encode(std::string_view text) const {
  if (absl::Status valid = ValidateUtf8(text, "prompt text"); !valid.ok()) return valid;
  std::vector<int> pieces = model_->Encode(text);
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
