// File: tests/text/tokenizer_test.cc
// Tokenizer on a SentencePiece model trained in memory (spm_test_model.h): </s> appended,
// Hugging Face-style truncation, the attention length, both loading paths and their errors.
// The ids themselves are compared with Python's sentencepiece in test_text_vs_python.py.
#include "engine/text/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/text/prompt_clean.h"
#include "engine/text/prompt_tokens.h"
#include "gtest/gtest.h"
#include "tests/text/spm_test_model.h"

namespace ovid::text {
namespace {

const std::string& Model() {
  static const std::string* model = [] {
    std::string error;
    auto* m = new std::string(testing::TrainTinyModel(/*eos_id=*/1, &error));
    EXPECT_FALSE(m->empty()) << error;
    return m;
  }();
  return *model;
}

Tokenizer Load(int64_t max_length = Tokenizer::kDefaultMaxLength) {
  absl::StatusOr<Tokenizer> t = Tokenizer::FromSerialized(Model(), "tiny", max_length);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

std::string LongText(int words) {
  std::string s;
  for (int i = 0; i < words; ++i) s += (i % 2 ? "quiet street " : "dog park ");
  return s;
}

TEST(Tokenizer, SpecialIdsAreTheModels) {
  Tokenizer t = Load();
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.vocab_size(), 100);
  EXPECT_EQ(t.max_length(), 512);
}

TEST(Tokenizer, EmptyTextIsJustEos) {
  absl::StatusOr<TokenizedText> out = Load().Encode("");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ids, std::vector<int32_t>{1});
  EXPECT_EQ(out->attention_length, 1);
  EXPECT_EQ(out->text_tokens, 0);
  EXPECT_FALSE(out->truncated);
}

TEST(Tokenizer, AppendsEosOnce) {
  absl::StatusOr<TokenizedText> out = Load().Encode("A dog runs across the park.");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_GE(out->ids.size(), 3u);
  EXPECT_EQ(out->ids.back(), 1);
  EXPECT_EQ(std::count(out->ids.begin(), out->ids.end(), 1), 1);
  EXPECT_EQ(std::count(out->ids.begin(), out->ids.end(), 3), 0) << "no <unk> in known words";
  EXPECT_EQ(out->attention_length, static_cast<int64_t>(out->ids.size()));
  EXPECT_EQ(out->text_tokens + 1, out->attention_length);
}

TEST(Tokenizer, TruncatesTheTextNotTheEos) {
  const std::string text = LongText(20);
  absl::StatusOr<TokenizedText> full = Load().Encode(text);
  absl::StatusOr<TokenizedText> cut = Load(/*max_length=*/8).Encode(text);
  ASSERT_TRUE(full.ok() && cut.ok());
  ASSERT_GT(full->text_tokens, 7);
  EXPECT_FALSE(full->truncated);
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->text_tokens, full->text_tokens);
  EXPECT_EQ(cut->attention_length, 8);
  std::vector<int32_t> expected(full->ids.begin(), full->ids.begin() + 7);
  expected.push_back(1);
  EXPECT_EQ(cut->ids, expected);
}

TEST(Tokenizer, DefaultLimitIs512) {
  absl::StatusOr<TokenizedText> out = Load().Encode(LongText(600));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->truncated);
  EXPECT_GT(out->text_tokens, 511);
  EXPECT_EQ(out->ids.size(), 512u);
  EXPECT_EQ(out->attention_length, 512);
  EXPECT_EQ(out->ids.back(), 1);
}

TEST(Tokenizer, TruncationStartsPastMaxLengthMinusOne) {
  const std::string text = LongText(6);
  const int64_t pieces = Load().Encode(text)->text_tokens;
  absl::StatusOr<TokenizedText> fits = Load(pieces + 1).Encode(text);  // pieces + </s>
  absl::StatusOr<TokenizedText> cut = Load(pieces).Encode(text);
  ASSERT_TRUE(fits.ok() && cut.ok());
  EXPECT_FALSE(fits->truncated);
  EXPECT_EQ(fits->attention_length, pieces + 1);
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->attention_length, pieces);
}

TEST(Tokenizer, FileAndBytesGiveTheSameIds) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("ovid_text_test_" + std::to_string(getpid()) + ".model");
  { std::ofstream(path, std::ios::binary) << Model(); }
  absl::StatusOr<Tokenizer> from_file = Tokenizer::FromFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  const std::string text = "<S>Hello there<E> Café 東京 😀";
  EXPECT_EQ(from_file->Encode(text)->ids, Load().Encode(text)->ids);
}

TEST(Tokenizer, LoadErrorsNameTheSource) {
  absl::StatusOr<Tokenizer> missing = Tokenizer::FromFile("/nonexistent/spiece.model");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/spiece.model"), std::string::npos);

  for (const std::string& bytes : {std::string(), std::string("not a model at all")}) {
    absl::StatusOr<Tokenizer> bad = Tokenizer::FromSerialized(bytes, "gguf:tokenizer");
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("gguf:tokenizer"), std::string::npos);
  }
  absl::StatusOr<Tokenizer> tiny = Tokenizer::FromSerialized(Model(), "tiny", 1);
  EXPECT_EQ(tiny.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tiny.status().message().find("max_length 1"), std::string::npos);
}

TEST(Tokenizer, ModelWithoutEosIsRefused) {
  std::string error;
  const std::string no_eos = testing::TrainTinyModel(/*eos_id=*/-1, &error);
  ASSERT_FALSE(no_eos.empty()) << error;
  absl::StatusOr<Tokenizer> t = Tokenizer::FromSerialized(no_eos, "no-eos");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("</s>"), std::string::npos) << t.status();
}

TEST(Tokenizer, RefusesInvalidUtf8) {
  absl::StatusOr<TokenizedText> out = Load().Encode("dog \xff");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Tokenizer, ConcurrentEncodesAgree) {
  const Tokenizer t = Load();
  const std::string text = "The cat sat on the mat. Crème brûlée, 城市 音乐 🎵";
  const std::vector<int32_t> expected = t.Encode(text)->ids;
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k) same[i] += t.Encode(text)->ids == expected;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(same, std::vector<int>(4, 50));
}

TEST(TokenizePrompt, RewritesThenCleansThenEncodes) {
  const Tokenizer t = Load();
  const std::string prompt = "  A dog &amp; a cat.   Audio: birds sing  ";
  absl::StatusOr<TokenizedText> audcap = TokenizePrompt(t, prompt, AudioTagStyle::kAudcap);
  ASSERT_TRUE(audcap.ok()) << audcap.status();
  // The formatter runs first, on the raw prompt: the caption takes the trailing spaces inside
  // the tags, and the cleaning then collapses them to one space before <ENDAUDCAP>.
  EXPECT_EQ(audcap->ids, t.Encode("A dog & a cat. <AUDCAP>birds sing <ENDAUDCAP>")->ids);
  absl::StatusOr<TokenizedText> colon = TokenizePrompt(t, prompt, AudioTagStyle::kAudioColon);
  EXPECT_EQ(colon->ids, t.Encode("A dog & a cat. Audio: birds sing")->ids);
  EXPECT_NE(audcap->ids, colon->ids);
  // Negative prompts are cleaned but never formatted.
  EXPECT_EQ(TokenizeNegativePrompt(t, " Audio:  muffled ")->ids, t.Encode("Audio: muffled")->ids);
}

}  // namespace
}  // namespace ovid::text
