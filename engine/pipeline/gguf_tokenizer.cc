// File: engine/pipeline/gguf_tokenizer.cc
#include "engine/pipeline/gguf_tokenizer.h"

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"

namespace ovid::pipeline {
namespace {

absl::Status Bad(const gguf::GgufFile& f, const char* key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(f.path(), ": ", key, ": ", what));
}

absl::StatusOr<const gguf::Array*> ArrayOf(const gguf::GgufFile& f, const char* key) {
  const gguf::Value* v = f.FindMetadata(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(f.path(), ": no ", key));
  const auto* a = std::get_if<gguf::Array>(&v->data);
  if (a == nullptr) return Bad(f, key, "not an array");
  return a;
}

}  // namespace

absl::StatusOr<text::TokenizerVocabulary> ReadGgufTokenizer(const gguf::GgufFile& f) {
  if (f.FindMetadata("tokenizer.ggml.tokens") == nullptr) {
    return absl::NotFoundError(absl::StrCat(f.path(), ": carries no tokenizer (no tokenizer.ggml.tokens)"));
  }
  absl::StatusOr<std::string> model = f.GetString("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  if (*model != "t5") {
    return Bad(f, "tokenizer.ggml.model",
               absl::StrCat("'", *model, "' is not a SentencePiece unigram tokenizer (\"t5\")"));
  }
  text::TokenizerVocabulary v;
  absl::StatusOr<const gguf::Array*> tokens = ArrayOf(f, "tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  for (const gguf::Value& t : (*tokens)->items) {
    const auto* s = std::get_if<std::string>(&t.data);
    if (s == nullptr) return Bad(f, "tokenizer.ggml.tokens", "not an array of strings");
    v.tokens.push_back(*s);
  }
  absl::StatusOr<const gguf::Array*> scores = ArrayOf(f, "tokenizer.ggml.scores");
  if (!scores.ok()) return scores.status();
  for (const gguf::Value& s : (*scores)->items) {
    const auto* d = std::get_if<double>(&s.data);
    if (d == nullptr) return Bad(f, "tokenizer.ggml.scores", "not an array of floats");
    v.scores.push_back(static_cast<float>(*d));
  }
  absl::StatusOr<const gguf::Array*> types = ArrayOf(f, "tokenizer.ggml.token_type");
  if (!types.ok()) return types.status();
  // Narrowed only after a range check: 2^32 + 1 would otherwise pass as 1.
  auto as_int32 = [](int64_t x) -> std::optional<int32_t> {
    if (x < INT32_MIN || x > INT32_MAX) return std::nullopt;
    return static_cast<int32_t>(x);
  };
  for (const gguf::Value& t : (*types)->items) {
    std::optional<int32_t> type;
    if (const auto* i = std::get_if<int64_t>(&t.data)) {
      type = as_int32(*i);
    } else if (const auto* u = std::get_if<uint64_t>(&t.data)) {
      if (*u <= static_cast<uint64_t>(INT32_MAX)) type = static_cast<int32_t>(*u);
    } else {
      return Bad(f, "tokenizer.ggml.token_type", "not an array of integers");
    }
    if (!type) return Bad(f, "tokenizer.ggml.token_type", "a value outside the 32-bit range");
    v.token_types.push_back(*type);
  }
  if (v.scores.size() != v.tokens.size() || v.token_types.size() != v.tokens.size()) {
    return Bad(f, "tokenizer.ggml.scores/token_type",
               absl::StrCat("lengths ", v.scores.size(), " and ", v.token_types.size(),
                            " differ from the ", v.tokens.size(), " tokens"));
  }
  if (absl::StatusOr<bool> b = f.GetBool("tokenizer.ggml.add_space_prefix"); b.ok()) {
    v.add_space_prefix = *b;
  }
  if (absl::StatusOr<bool> b = f.GetBool("tokenizer.ggml.remove_extra_whitespaces"); b.ok()) {
    v.remove_extra_whitespaces = *b;
  }
  for (const auto& [key, id_out] : {std::pair{"tokenizer.ggml.eos_token_id", &v.eos_id},
                                     std::pair{"tokenizer.ggml.padding_token_id", &v.pad_id}}) {
    if (absl::StatusOr<int64_t> id = f.GetInt(key); id.ok()) {
      std::optional<int32_t> narrow = as_int32(*id);
      if (!narrow) return Bad(f, key, absl::StrCat(*id, " is outside the 32-bit range"));
      *id_out = *narrow;
    }
  }
  // The normalization rules: llama.cpp writes them as an array of bytes.
  if (f.FindMetadata("tokenizer.ggml.precompiled_charsmap") != nullptr) {
    absl::StatusOr<const gguf::Array*> map = ArrayOf(f, "tokenizer.ggml.precompiled_charsmap");
    if (!map.ok()) return map.status();
    for (const gguf::Value& b : (*map)->items) {
      if (const auto* u = std::get_if<uint64_t>(&b.data)) {
        v.precompiled_charsmap.push_back(static_cast<char>(*u));
      } else if (const auto* i = std::get_if<int64_t>(&b.data)) {
        v.precompiled_charsmap.push_back(static_cast<char>(*i));
      } else {
        return Bad(f, "tokenizer.ggml.precompiled_charsmap", "not an array of bytes");
      }
    }
  }
  return v;
}

}  // namespace ovid::pipeline
