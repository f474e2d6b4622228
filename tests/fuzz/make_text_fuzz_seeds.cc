// make_text_fuzz_seeds DIR: the prompt fuzzer's model and both text fuzzers' seed corpora,
// trained here with libsentencepiece (tests/text/spm_test_model.h; a test-only dependency, so
// this runs in the main build and the sanitized fuzzers only read its files):
//   DIR/spm_fuzz_model.model  a umt5-like unigram model (nmt_nfkc charsmap, <pad> </s> <s> <unk>
//                             at 0..3) that prompt_tokens_fuzzer loads ($OVID_FUZZ_SPM_MODEL)
//   DIR/prompt_corpus/        prompts: tags of both styles, HTML entities, curly quotes, odd
//                             whitespace, NFKC-sensitive forms, CJK, emoji, one past 512 tokens
//   DIR/spm_model_corpus/     small models of every option the reader keeps: identity and custom
//                             rule charsmaps, byte_fallback, user-defined symbols, whitespace as
//                             suffix, no dummy prefix / extra-whitespace removal, no </s>
// Each model must load with ovid's own reader (the one without </s> only parse), so the fuzzers
// start from accepted inputs.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/text/spm_model_proto.h"
#include "engine/text/tokenizer.h"
#include "tests/text/spm_test_model.h"

namespace {

namespace fs = std::filesystem;

bool Save(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (out) return true;
  std::fprintf(stderr, "make_text_fuzz_seeds: cannot write %s\n", path.c_str());
  return false;
}

// A few SentencePiece normalization rules (source and target code points in hex, as the
// trainer's --normalization_rule_tsv reads them): a small charsmap with one- and two-character
// keys, expansions and a rule that maps to nothing.
constexpr std::string_view kRules =
    "FF21\t41\nFF22\t42\nFB01\t66 69\n41 301\tC1\n00A0\t20\n3000\t20\n200B\t\n2460\t31\n";

std::vector<std::string> Prompts() {
  std::vector<std::string> prompts = {
      "A dog runs across the park while the sun sets.",
      "<S>Hello there, how are you?<E> Audio: birds sing and wind blows.",
      "A man speaks. <AUDCAP>rain falls on a tin roof<ENDAUDCAP> then <AUDCAP>thunder",
      "Tom &amp; Jerry &lt;b&gt; &#34;quoted&#x22; &notit; &amp;amp;amp; &#0; &#x110000; &#xD800;",
      "\u201ccurly\u201d \u2018quotes\u2019\r\n\ttabs\u00a0nbsp\u200bzero\u00adsoft \u3000 ",
      "Caf\u00e9 cre\u0300me \uff21\uff22\uff43 \ufb01 \u2460 x\u00b2 \x01\x1f\x7f \u2581\u2581",
      "\u6771\u4eac\u306e\u591c\u666f \u57ce\u5e02 \U0001F600 \U0001F3B5",
      "",
  };
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += i % 2 ? "the quiet street " : "a dog park ";
  prompts.push_back(long_prompt);
  return prompts;
}

struct ModelSeed {
  const char* name;
  std::string flags;
  bool has_eos;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_text_fuzz_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  std::error_code ec;
  for (const char* sub : {"prompt_corpus", "spm_model_corpus"}) {
    fs::create_directories(dir / sub, ec);
  }
  const fs::path rules = dir / "spm_rules.tsv";
  if (!Save(rules, kRules)) return 1;

  const std::string umt5_like = "--normalization_rule_name=nmt_nfkc --eos_id=1";
  const std::vector<ModelSeed> models = {
      {"spm_fuzz_model.model", "--vocab_size=300 --hard_vocab_limit=false " + umt5_like, true},
      {"spm_model_corpus/identity_bytes_user.model",
       "--vocab_size=400 --hard_vocab_limit=false --normalization_rule_name=identity --eos_id=1 "
       "--byte_fallback=true --user_defined_symbols=<S>,<E>,<AUDCAP>,<ENDAUDCAP>",
       true},
      {"spm_model_corpus/rules_raw_whitespace.model",
       "--vocab_size=100 --eos_id=1 --normalization_rule_tsv=" + rules.string() +
           " --add_dummy_prefix=false --remove_extra_whitespaces=false",
       true},
      {"spm_model_corpus/identity_suffix.model",
       "--vocab_size=100 --normalization_rule_name=identity --eos_id=1 "
       "--treat_whitespace_as_suffix=true",
       true},
      {"spm_model_corpus/no_eos.model",
       "--vocab_size=100 --normalization_rule_name=identity --eos_id=-1", false},
  };
  for (const ModelSeed& m : models) {
    std::string error;
    const std::string bytes = ovid::text::testing::TrainTinyModelWithFlags(m.flags, &error);
    if (bytes.empty()) {
      std::fprintf(stderr, "make_text_fuzz_seeds: training %s: %s\n", m.name, error.c_str());
      return 1;
    }
    // A seed the reader refuses would only teach the fuzzer its error paths.
    const auto proto = ovid::text::ParseSpmModelProto(bytes, m.name);
    const auto tokenizer = ovid::text::Tokenizer::FromSerialized(bytes, m.name);
    if (!proto.ok() || tokenizer.ok() != m.has_eos) {
      std::fprintf(stderr, "make_text_fuzz_seeds: %s does not load as expected: %s\n", m.name,
                   tokenizer.ok() ? proto.status().ToString().c_str()
                                  : tokenizer.status().ToString().c_str());
      return 1;
    }
    if (!Save(dir / m.name, bytes)) return 1;
  }
  const std::vector<std::string> prompts = Prompts();
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (!Save(dir / "prompt_corpus" / ("seed_" + std::to_string(i)), prompts[i])) return 1;
  }
  return 0;
}
