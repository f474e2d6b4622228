// File: tests/text/spm_vocabulary_test.cc
// ovid's SentencePiece encoder on hand-made vocabularies (no libsentencepiece needed, so this is
// built everywhere): the Viterbi choice, <unk> runs, user-defined symbols, byte fallback, the
// whitespace rules, and the errors of Tokenizer::FromVocabulary and of the ModelProto reader.
// The comparison with Python's sentencepiece on trained models is test_spm_vs_python.py.
#include <string>
#include <vector>

#include "engine/text/sentencepiece_model.h"
#include "engine/text/spm_model_proto.h"
#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"

namespace ovid::text {
namespace {

// <pad>=0 </s>=1 <s>=2 <unk>=3, then the given NORMAL pieces (type 1 unless listed in `types`).
TokenizerVocabulary Vocab(const std::vector<std::pair<std::string, float>>& pieces,
                          const std::vector<int32_t>& types = {}) {
  TokenizerVocabulary v;
  v.tokens = {"<pad>", "</s>", "<s>", "<unk>"};
  v.scores = {0, 0, 0, 0};
  v.token_types = {3, 3, 3, 2};
  for (size_t i = 0; i < pieces.size(); ++i) {
    v.tokens.push_back(pieces[i].first);
    v.scores.push_back(pieces[i].second);
    v.token_types.push_back(i < types.size() ? types[i] : 1);
  }
  return v;
}

std::vector<int32_t> Ids(const TokenizerVocabulary& v, const std::string& text) {
  absl::StatusOr<Tokenizer> t = Tokenizer::FromVocabulary(v, "hand-made");
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  absl::StatusOr<TokenizedText> out = t->Encode(text);
  EXPECT_TRUE(out.ok()) << out.status();
  out->ids.pop_back();  // </s>
  return out->ids;
}

const char kSpace[] = "\xE2\x96\x81";  // U+2581

TEST(SpmVocabulary, ViterbiMaximizesTheScoreSum) {
  // ids:              4             5            6           7
  const auto v = Vocab({{std::string(kSpace) + "a", -1}, {"b", -1}, {"ab", -3}, {kSpace, -5}});
  EXPECT_EQ(Ids(v, "ab"), (std::vector<int32_t>{4, 5}));  // -2 beats ▁ + ab (-8)
  const auto w = Vocab({{std::string(kSpace) + "a", -4}, {"b", -1}, {"ab", -1}, {kSpace, -1}});
  EXPECT_EQ(Ids(w, "ab"), (std::vector<int32_t>{7, 6}));  // -2 beats -5
}

TEST(SpmVocabulary, UnknownRunsMergeIntoOneUnk) {
  const auto v = Vocab({{kSpace, -1}, {"a", -1}});
  EXPECT_EQ(Ids(v, "a zz a"), (std::vector<int32_t>{4, 5, 4, 3, 4, 5}));
  EXPECT_EQ(Ids(v, "q\xC3\xA9\xE6\x9D\xB1"), (std::vector<int32_t>{4, 3}));  // qé東: one <unk>
}

TEST(SpmVocabulary, WhitespaceRules) {
  auto v = Vocab({{kSpace, -1}, {"a", -1}});
  EXPECT_EQ(Ids(v, "  a   a  "), (std::vector<int32_t>{4, 5, 4, 5}));
  EXPECT_EQ(Ids(v, "   "), std::vector<int32_t>{});
  v.add_space_prefix = false;
  EXPECT_EQ(Ids(v, " a a"), (std::vector<int32_t>{5, 4, 5}));
  v.remove_extra_whitespaces = false;
  EXPECT_EQ(Ids(v, " a  a "), (std::vector<int32_t>{4, 5, 4, 4, 5, 4}));
}

TEST(SpmVocabulary, UserDefinedSymbolsWinAndUnusedNeverAppear) {
  // "<S>" user-defined (4), "ab" unused (5) though it would score best.
  const auto v =
      Vocab({{"<S>", 0}, {"ab", 0}, {"a", -1}, {"b", -1}, {kSpace, -1}, {"<", -1}}, {4, 5});
  EXPECT_EQ(Ids(v, "<S>ab"), (std::vector<int32_t>{8, 4, 6, 7}));
  EXPECT_EQ(Ids(v, "<ab"), (std::vector<int32_t>{8, 9, 6, 7}));
}

TEST(SpmVocabulary, ByteFallbackSpellsUnknownsInBytes) {
  std::vector<std::pair<std::string, float>> pieces = {{kSpace, -1}, {"a", -1}};
  std::vector<int32_t> types = {1, 1};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    pieces.emplace_back(name, 0);
    types.push_back(6);
  }
  const auto v = Vocab(pieces, types);
  // "é" is C3 A9: bytes 0xC3 and 0xA9 at ids 6 + 0xC3 and 6 + 0xA9.
  EXPECT_EQ(Ids(v, "a\xC3\xA9"), (std::vector<int32_t>{4, 5, 6 + 0xC3, 6 + 0xA9}));
}

TEST(SpmVocabulary, SpecialIdsFromTheArraysOrThePieces) {
  auto v = Vocab({{kSpace, -1}});
  absl::StatusOr<Tokenizer> t = Tokenizer::FromVocabulary(v, "v");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->eos_id(), 1);
  EXPECT_EQ(t->pad_id(), 0);
  EXPECT_EQ(t->vocab_size(), 5);
  v.eos_id = 2;
  EXPECT_EQ(Tokenizer::FromVocabulary(v, "v")->eos_id(), 2);
}

TEST(SpmVocabulary, ErrorsNameTheOriginAndTheProblem) {
  auto expect_error = [](const TokenizerVocabulary& v, const std::string& what) {
    absl::StatusOr<Tokenizer> t = Tokenizer::FromVocabulary(v, "gguf:umt5");
    ASSERT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_NE(t.status().message().find("gguf:umt5"), std::string::npos) << t.status();
    EXPECT_NE(t.status().message().find(what), std::string::npos) << t.status();
  };
  auto v = Vocab({{"a", -1}});
  v.scores.pop_back();
  expect_error(v, "scores");
  v = Vocab({{"a", -1}}, {7});
  expect_error(v, "type 7");
  v = Vocab({{"a", -1}, {"a", -2}});
  expect_error(v, "defined twice");
  v = Vocab({{"a", -1}});
  v.token_types[3] = 1;
  expect_error(v, "UNKNOWN");
  v = Vocab({{"a", -1}});
  v.eos_id = 99;
  expect_error(v, "special id 99");
  v = Vocab({{"a", -1}});
  v.token_types[1] = 1;  // </s> not CONTROL
  expect_error(v, "</s>");
  v = Vocab({{"a", -1}});
  v.precompiled_charsmap = std::string("\xFF\x00\x00\x00", 4) + "abcdefgh";  // trie past the end
  expect_error(v, "precompiled_charsmap");
}

TEST(SpmVocabulary, MalformedUtf8BecomesReplacementCharacters) {
  // Tokenizer refuses invalid UTF-8; the model below it replaces each bad byte as SentencePiece.
  SpmModelProto proto;
  proto.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"a", -1, SpmPieceType::kNormal}};
  absl::StatusOr<std::unique_ptr<SentencePieceModel>> model =
      SentencePieceModel::FromProto(proto, "m");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->Normalize("a\xFF\xC3  a"),
            std::string(kSpace) + "a\xEF\xBF\xBD\xEF\xBF\xBD" + kSpace + "a");
  EXPECT_EQ((*model)->Encode("a\xFF\xC3"), (std::vector<int>{0, 1, 0}));  // ▁ unk, a, one unk
}

TEST(SpmModelProto, MalformedBytesNameTheOffset) {
  // Field 1 (pieces), length 5, but only 2 bytes follow.
  absl::StatusOr<SpmModelProto> cut = ParseSpmModelProto(std::string("\x0A\x05\x0A\x01", 4), "m");
  ASSERT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cut.status().message().find("m: malformed SentencePiece ModelProto at byte 2"),
            std::string::npos)
      << cut.status();
  absl::StatusOr<SpmModelProto> group = ParseSpmModelProto("\x0B", "m");  // wire type 3
  EXPECT_NE(group.status().message().find("wire type 3"), std::string::npos) << group.status();
  // A piece with a score (fixed32 1.5f) and type 4; an unknown field (99, varint) is skipped.
  const std::string piece = std::string("\x0A\x01x\x15\x00\x00\xC0\x3F\x18\x04", 10);
  const std::string bytes = "\x0A" + std::string(1, static_cast<char>(piece.size())) + piece +
                            std::string("\x98\x06\x01", 3);
  absl::StatusOr<SpmModelProto> ok = ParseSpmModelProto(bytes, "m");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->pieces.size(), 1u);
  EXPECT_EQ(ok->pieces[0].piece, "x");
  EXPECT_EQ(ok->pieces[0].score, 1.5f);
  EXPECT_EQ(ok->pieces[0].type, SpmPieceType::kUserDefined);
  EXPECT_TRUE(ok->normalizer.add_dummy_prefix);
}

}  // namespace
}  // namespace ovid::text
