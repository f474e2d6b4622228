// libFuzzer target for the prompt front end (engine/text), the server's path from a request's
// prompt to token ids (engine/pipeline/text_stage.cc): TokenizePrompt in both audio-tag styles
// (the tag rewrite, CleanPrompt's quote straightening, double HTML unescape and whitespace rules,
// then the SentencePiece normalizer and unigram Viterbi), TokenizeNegativePrompt, and
// Tokenizer::Encode on the raw bytes (no cleaning: runs of spaces, tabs and U+2581 reach the
// normalizer). The tokenizer is a real unigram model with the nmt_nfkc charsmap, trained by
// make_text_fuzz_seeds and named by $OVID_FUZZ_SPM_MODEL, loaded once in LLVMFuzzerInitialize.
//
// Checked for every input, beyond ASan/UBSan: valid UTF-8 always tokenizes and anything else is
// INVALID_ARGUMENT; the cleaned text is valid UTF-8 with no surrounding whitespace; the ids end
// with </s>, stay inside the vocabulary and within max_length, and the truncation fields agree.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "engine/text/prompt_clean.h"
#include "engine/text/prompt_tokens.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8.h"

namespace {

using ovid::text::TokenizedText;
using ovid::text::Tokenizer;

std::optional<Tokenizer>& Model() {
  static std::optional<Tokenizer> tokenizer;
  return tokenizer;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckTokens(const absl::StatusOr<TokenizedText>& t, bool valid_utf8) {
  Check(t.ok() == valid_utf8);
  if (!t.ok()) {
    Check(t.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  const Tokenizer& tokenizer = *Model();
  const int64_t room = tokenizer.max_length() - 1;
  Check(!t->ids.empty() && t->ids.back() == tokenizer.eos_id());
  Check(t->attention_length == static_cast<int64_t>(t->ids.size()));
  Check(t->attention_length <= tokenizer.max_length());
  Check(t->truncated == (t->text_tokens > room));
  Check(t->attention_length - 1 == std::min(t->text_tokens, room));
  for (const int32_t id : t->ids) Check(id >= 0 && id < tokenizer.vocab_size());
}

void CheckCleaned(std::string_view prompt) {
  const absl::StatusOr<std::string> clean = ovid::text::CleanPrompt(prompt);
  Check(clean.ok());
  Check(ovid::text::ValidateUtf8(*clean, "cleaned prompt").ok());
  if (clean->empty()) return;
  size_t pos = 0;
  Check(!ovid::text::IsPythonWhitespace(ovid::text::NextCodePoint(*clean, pos)));
  size_t last = 0;
  for (pos = 0; pos < clean->size();) {
    last = pos;
    ovid::text::NextCodePoint(*clean, pos);
  }
  Check(!ovid::text::IsPythonWhitespace(ovid::text::NextCodePoint(*clean, last)));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* path = std::getenv("OVID_FUZZ_SPM_MODEL");
  if (path == nullptr) {
    std::fprintf(stderr,
                 "prompt_tokens_fuzzer: set OVID_FUZZ_SPM_MODEL to the model make_text_fuzz_seeds "
                 "writes (DIR/spm_fuzz_model.model)\n");
    std::exit(1);
  }
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromFile(path);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "prompt_tokens_fuzzer: %s\n", tokenizer.status().ToString().c_str());
    std::exit(1);
  }
  Model().emplace(std::move(*tokenizer));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view prompt(reinterpret_cast<const char*>(data), size);
  const Tokenizer& tokenizer = *Model();
  const bool valid = ovid::text::ValidateUtf8(prompt, "prompt").ok();
  if (valid) CheckCleaned(prompt);
  for (const auto style :
       {ovid::text::AudioTagStyle::kAudcap, ovid::text::AudioTagStyle::kAudioColon}) {
    CheckTokens(ovid::text::TokenizePrompt(tokenizer, prompt, style), valid);
  }
  CheckTokens(ovid::text::TokenizeNegativePrompt(tokenizer, prompt), valid);
  CheckTokens(tokenizer.Encode(prompt), valid);
  return 0;
}
