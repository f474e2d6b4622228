// File: tests/text/text_cli.cc
// ovid-text-cli: a test-only bridge from engine/text to the Python tests
// (test_text_vs_python.py), which compare it with the original's Python rules and with the
// Python `sentencepiece` package. Reads a JSON array of strings on stdin, prints a JSON array
// with one result per string on stdout:
//   clean                      {"text": CleanPrompt(s)}
//   rewrite --variant=V        {"text": RewriteAudioTagsForVariant(s, V)}
//   encode  MODEL              Tokenizer::Encode(s) (s as given, no cleaning)
//   prompt  MODEL --variant=V  TokenizePrompt(s, style of V)
//   negative MODEL             TokenizeNegativePrompt(s)
// MODEL is --model=spiece.model (FromFile), --model-bytes=FILE (the file's bytes through
// FromSerialized) or --vocab-from=FILE (the model's pieces as arrays through FromVocabulary, as
// a GGUF carries them; --charsmap=drop leaves out the normalization rules as a GGUF without
// tokenizer.ggml.precompiled_charsmap would), optionally with --max-length=N. An encoding prints
// {"ids": [...], "attention_length": n, "text_tokens": n, "truncated": bool}; a failed item
// prints {"error": message, "code": "INVALID_ARGUMENT"}. Exit status 0, 1 when the model cannot
// be loaded, 2 on bad usage or input.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "engine/text/audio_tags.h"
#include "engine/text/prompt_clean.h"
#include "engine/text/prompt_tokens.h"
#include "engine/text/spm_model_proto.h"
#include "engine/text/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

using ovid::text::TokenizedText;
using ovid::text::Tokenizer;
using Json = nlohmann::json;

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "ovid-text-cli: %s\nusage: ovid-text-cli clean|rewrite|encode|prompt|negative "
               "[--variant=V] [--model=F|--model-bytes=F|--vocab-from=F [--charsmap=drop]] "
               "[--max-length=N] < strings.json\n",
               why.c_str());
  return 2;
}

Json ErrorJson(const absl::Status& status) {
  return {{"error", std::string(status.message())},
          {"code", absl::StatusCodeToString(status.code())}};
}

Json ToJson(const absl::StatusOr<std::string>& text) {
  return text.ok() ? Json{{"text", *text}} : ErrorJson(text.status());
}

Json ToJson(const absl::StatusOr<TokenizedText>& tokens) {
  if (!tokens.ok()) return ErrorJson(tokens.status());
  return {{"ids", tokens->ids},
          {"attention_length", tokens->attention_length},
          {"text_tokens", tokens->text_tokens},
          {"truncated", tokens->truncated}};
}

absl::StatusOr<Tokenizer> LoadTokenizer(const std::map<std::string, std::string>& flags) {
  int64_t max_length = Tokenizer::kDefaultMaxLength;
  if (auto it = flags.find("max-length"); it != flags.end()) {
    if (!absl::SimpleAtoi(it->second, &max_length)) {
      return absl::InvalidArgumentError("--max-length is not an integer: " + it->second);
    }
  }
  if (auto it = flags.find("model"); it != flags.end()) {
    return Tokenizer::FromFile(it->second, max_length);
  }
  auto it = flags.find("model-bytes");
  const bool from_vocab = it == flags.end();
  if (from_vocab) it = flags.find("vocab-from");
  if (it == flags.end()) {
    return absl::InvalidArgumentError("--model, --model-bytes or --vocab-from is required");
  }
  std::ifstream in(it->second, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + it->second);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!from_vocab) return Tokenizer::FromSerialized(bytes, it->second + " (bytes)", max_length);
  absl::StatusOr<ovid::text::SpmModelProto> proto =
      ovid::text::ParseSpmModelProto(bytes, it->second);
  if (!proto.ok()) return proto.status();
  ovid::text::TokenizerVocabulary vocab;
  for (const ovid::text::SpmPiece& p : proto->pieces) {
    vocab.tokens.push_back(p.piece);
    vocab.scores.push_back(p.score);
    vocab.token_types.push_back(static_cast<int32_t>(p.type));
  }
  vocab.add_space_prefix = proto->normalizer.add_dummy_prefix;
  vocab.remove_extra_whitespaces = proto->normalizer.remove_extra_whitespaces;
  const auto charsmap = flags.find("charsmap");
  if (charsmap == flags.end() || charsmap->second != "drop") {
    vocab.precompiled_charsmap = proto->normalizer.precompiled_charsmap;
  }
  return Tokenizer::FromVocabulary(vocab, it->second + " (vocabulary)", max_length);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("no mode");
  const std::string mode = argv[1];
  std::map<std::string, std::string> flags;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) return Usage("bad flag " + arg);
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  const Json input = Json::parse(std::cin, nullptr, /*allow_exceptions=*/false);
  if (!input.is_array()) return Usage("stdin is not a JSON array");
  const std::string variant = flags.count("variant") ? flags["variant"] : "";

  std::optional<Tokenizer> tokenizer;
  std::optional<ovid::text::AudioTagStyle> style;
  if (mode == "encode" || mode == "prompt" || mode == "negative") {
    absl::StatusOr<Tokenizer> loaded = LoadTokenizer(flags);
    if (!loaded.ok()) {
      std::fprintf(stderr, "ovid-text-cli: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    tokenizer.emplace(std::move(*loaded));
  }
  if (mode == "prompt") {
    absl::StatusOr<ovid::text::AudioTagStyle> s = ovid::text::AudioTagStyleForVariant(variant);
    if (!s.ok()) return Usage(s.status().ToString());
    style = *s;
  }

  Json output = Json::array();
  for (const Json& item : input) {
    if (!item.is_string()) return Usage("every input item must be a string");
    const std::string s = item.get<std::string>();
    if (mode == "clean") {
      output.push_back(ToJson(ovid::text::CleanPrompt(s)));
    } else if (mode == "rewrite") {
      output.push_back(ToJson(ovid::text::RewriteAudioTagsForVariant(s, variant)));
    } else if (mode == "encode") {
      output.push_back(ToJson(tokenizer->Encode(s)));
    } else if (mode == "prompt") {
      output.push_back(ToJson(ovid::text::TokenizePrompt(*tokenizer, s, *style)));
    } else if (mode == "negative") {
      output.push_back(ToJson(ovid::text::TokenizeNegativePrompt(*tokenizer, s)));
    } else {
      return Usage("unknown mode " + mode);
    }
  }
  std::cout << output.dump(-1, ' ', /*ensure_ascii=*/true) << "\n";
  return 0;
}
