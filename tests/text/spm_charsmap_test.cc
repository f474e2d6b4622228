// File: tests/text/spm_charsmap_test.cc
// The normalizer's precompiled_charsmap trie on hand-built blobs: a rule key is found whatever
// its length up to the limit, and the tries that made every prompt byte walk the rest of the
// prompt (a cycle, a key or a chain past 256 bytes; 16 s for a 64 KiB prompt with one looping
// unit) are refused when the model loads. The real rule sets are compared with Python's
// sentencepiece in test_spm_vs_python.py.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/sentencepiece_model.h"
#include "engine/text/spm_model_proto.h"
#include "gtest/gtest.h"

namespace ovid::text {
namespace {

const char kSpace[] = "\xE2\x96\x81";  // U+2581

enum class Chain { kRule, kNoLeaf, kLoop };

// A charsmap whose trie holds `key` as a chain of Darts-clone units (spm_normalizer.h): state i
// has base 256 * (i + 1) and the unit for key[i] leads to state i + 1, whose base slot holds the
// value (offset 0 of the strings, `replacement`). kNoLeaf leaves the key without a value; kLoop
// makes the last byte lead back to the root's state instead.
std::string ChainCharsmap(std::string_view key, std::string_view replacement, Chain kind) {
  auto base = [](size_t i) { return static_cast<uint32_t>(256 * (i + 1)); };
  // Unused units carry bit 31, like value units: their label never equals a byte.
  std::vector<uint32_t> units(256 * (key.size() + 2), 0x80000000u);
  units[0] = base(0) << 10;  // the root: its offset is the first state's base
  for (size_t i = 0; i < key.size(); ++i) {
    const auto label = static_cast<uint8_t>(key[i]);
    const uint32_t child = base(i) ^ label;
    const bool last = i + 1 == key.size();
    const uint32_t next = last && kind == Chain::kLoop ? base(0) : base(i + 1);
    const uint32_t leaf = last && kind == Chain::kRule ? 1u << 8 : 0;
    units[child] = ((child ^ next) << 10) | leaf | label;
  }
  std::string blob;
  auto put32 = [&blob](uint32_t v) {
    for (int shift = 0; shift < 32; shift += 8) blob.push_back(static_cast<char>(v >> shift));
  };
  put32(static_cast<uint32_t>(units.size() * 4));
  for (const uint32_t u : units) put32(u);
  blob += replacement;
  blob.push_back('\0');
  return blob;
}

absl::StatusOr<std::unique_ptr<SentencePieceModel>> Model(const std::string& charsmap) {
  SpmModelProto proto;
  proto.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"a", -1, SpmPieceType::kNormal}};
  proto.normalizer.precompiled_charsmap = charsmap;
  return SentencePieceModel::FromProto(proto, "chain");
}

TEST(SpmCharsmap, RuleKeysMatchUpToTheLimit) {
  absl::StatusOr<std::unique_ptr<SentencePieceModel>> abc =
      Model(ChainCharsmap("abc", "X", Chain::kRule));
  ASSERT_TRUE(abc.ok()) << abc.status();
  // Replaced where the whole key is there; an unfinished key at the end is copied.
  EXPECT_EQ((*abc)->Normalize("zabcabcab"), std::string(kSpace) + "zXXab");
  const std::string longest = "q" + std::string(255, 'k');
  absl::StatusOr<std::unique_ptr<SentencePieceModel>> model =
      Model(ChainCharsmap(longest, "Y", Chain::kRule));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->Normalize("k" + longest + "k"), std::string(kSpace) + "kYk");
}

// The walk along a prompt follows the trie while the bytes match; before the fix, each of these
// loaded and made normalization quadratic in the prompt's length.
TEST(SpmCharsmap, TriesThatWouldWalkThePromptAreRefused) {
  auto expect_refused = [](const std::string& charsmap, const std::string& why) {
    absl::StatusOr<std::unique_ptr<SentencePieceModel>> model = Model(charsmap);
    ASSERT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_NE(model.status().message().find("chain: malformed precompiled_charsmap"),
              std::string::npos)
        << model.status();
    EXPECT_NE(model.status().message().find(why), std::string::npos) << model.status();
  };
  expect_refused(ChainCharsmap("a", "", Chain::kLoop), "leads back to a state on its own path");
  expect_refused(ChainCharsmap("xyz", "", Chain::kLoop), "leads back to a state on its own path");
  expect_refused(ChainCharsmap(std::string(257, 'k'), "Y", Chain::kRule), "longer than 256 bytes");
  expect_refused(ChainCharsmap(std::string(300, 'k'), "", Chain::kNoLeaf), "longer than 256 bytes");
}

}  // namespace
}  // namespace ovid::text
