// File: tests/pipeline/gguf_tokenizer_test.cc
// The tokenizer a UMT5 GGUF carries (tokenizer.ggml.*, as llama.cpp's t5 converter writes it):
// a SentencePiece model trained here is written into a GGUF's metadata, read back through
// ReadGgufTokenizer and must give the ids the model file itself gives.
#include "engine/pipeline/gguf_tokenizer.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/text/spm_model_proto.h"
#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/text/spm_test_model.h"

namespace ovid::pipeline {
namespace {

using gguf::Value;
using gguf::ValueType;

// The GGUF of `model` (serialized SentencePiece) with no tensors; `charsmap` false leaves the
// normalization rules out, as a converter without them would.
std::string WriteGguf(const std::string& model, bool charsmap, bool broken_scores = false,
                      uint64_t eos = 1) {
  absl::StatusOr<text::SpmModelProto> proto = text::ParseSpmModelProto(model, "trained");
  EXPECT_TRUE(proto.ok()) << proto.status();
  std::vector<Value> tokens, scores, types, map;
  for (const text::SpmPiece& p : proto->pieces) {
    tokens.push_back(Value::Str(p.piece));
    scores.push_back(Value::F32(p.score));
    types.push_back(Value::I32(static_cast<int32_t>(p.type)));
  }
  if (broken_scores) scores.pop_back();
  for (char c : proto->normalizer.precompiled_charsmap) {
    map.push_back(Value::U8(static_cast<uint8_t>(c)));
  }
  gguf::GgufWriter w;
  EXPECT_TRUE(w.AddMetadata("general.architecture", Value::Str("t5encoder")).ok());
  EXPECT_TRUE(w.AddMetadata("tokenizer.ggml.model", Value::Str("t5")).ok());
  EXPECT_TRUE(w.AddMetadata("tokenizer.ggml.tokens", Value::Arr(ValueType::kString, tokens)).ok());
  EXPECT_TRUE(w.AddMetadata("tokenizer.ggml.scores", Value::Arr(ValueType::kFloat32, scores)).ok());
  EXPECT_TRUE(
      w.AddMetadata("tokenizer.ggml.token_type", Value::Arr(ValueType::kInt32, types)).ok());
  EXPECT_TRUE(w.AddMetadata("tokenizer.ggml.add_space_prefix", Value::Bool(true)).ok());
  EXPECT_TRUE(w.AddMetadata("tokenizer.ggml.eos_token_id", Value::U64(eos)).ok());
  if (charsmap) {
    EXPECT_TRUE(
        w.AddMetadata("tokenizer.ggml.precompiled_charsmap", Value::Arr(ValueType::kUint8, map))
            .ok());
  }
  const std::string path =
      absl::StrCat("/tmp/ovid_", getpid(), "_tok_", charsmap, broken_scores, "_", eos, ".gguf");
  EXPECT_TRUE(w.Write(path, [](const gguf::GgufWriter::PlannedTensor&, std::vector<uint8_t>*) {
                 return absl::OkStatus();
               }).ok());
  return path;
}

std::vector<int32_t> Ids(const text::Tokenizer& t, const std::string& s) {
  absl::StatusOr<text::TokenizedText> r = t.Encode(s);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->ids : std::vector<int32_t>{};
}

TEST(GgufTokenizerTest, TheGgufVocabularyGivesTheModelFilesIds) {
  std::string error;
  const std::string model = text::testing::TrainTinyModel(1, &error);
  ASSERT_FALSE(model.empty()) << error;
  absl::StatusOr<text::Tokenizer> reference = text::Tokenizer::FromSerialized(model, "trained");
  ASSERT_TRUE(reference.ok()) << reference.status();

  for (const bool charsmap : {true, false}) {
    const std::string path = WriteGguf(model, charsmap);
    absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<text::TokenizerVocabulary> v = ReadGgufTokenizer(**file);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->precompiled_charsmap.empty(), !charsmap);
    absl::StatusOr<text::Tokenizer> t = text::Tokenizer::FromVocabulary(*v, path);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->eos_id(), 1);
    // Plain text needs no normalization rules; a ligature and fullwidth letters do.
    for (const std::string s : {"the dog runs in the park", "  hello   world  ", "<S>hi<E>"}) {
      EXPECT_EQ(Ids(*t, s), Ids(*reference, s)) << s << " charsmap " << charsmap;
    }
    const std::string nfkc = "\xef\xac\x81ne \xef\xbc\xa1\xef\xbc\xa2";  // "ﬁne ＡＢ"
    if (charsmap) {
      EXPECT_EQ(Ids(*t, nfkc), Ids(*reference, nfkc));
    } else {
      EXPECT_NE(Ids(*t, nfkc), Ids(*reference, nfkc));
    }
    std::remove(path.c_str());
  }
}

TEST(GgufTokenizerTest, MissingOrMalformedVocabulariesAreNamed) {
  std::string error;
  const std::string model = text::testing::TrainTinyModel(1, &error);
  ASSERT_FALSE(model.empty()) << error;
  const std::string path = WriteGguf(model, true, /*broken_scores=*/true);
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::Status s = ReadGgufTokenizer(**file).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "tokenizer.ggml.scores")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), path)) << s;
  std::remove(path.c_str());

  // An id past 32 bits is refused by name, not narrowed (2^32 + 1 passed as 1).
  const std::string wide = WriteGguf(model, true, false, (uint64_t{1} << 32) + 1);
  file = gguf::GgufFile::Open(wide);
  ASSERT_TRUE(file.ok()) << file.status();
  s = ReadGgufTokenizer(**file).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "tokenizer.ggml.eos_token_id")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "outside the 32-bit range")) << s;
  std::remove(wide.c_str());

  gguf::GgufWriter w;
  ASSERT_TRUE(w.AddMetadata("general.architecture", Value::Str("t5encoder")).ok());
  const std::string bare = absl::StrCat("/tmp/ovid_", getpid(), "_bare.gguf");
  ASSERT_TRUE(w.Write(bare, [](const gguf::GgufWriter::PlannedTensor&, std::vector<uint8_t>*) {
                 return absl::OkStatus();
               }).ok());
  file = gguf::GgufFile::Open(bare);
  ASSERT_TRUE(file.ok()) << file.status();
  s = ReadGgufTokenizer(**file).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  std::remove(bare.c_str());
}

}  // namespace
}  // namespace ovid::pipeline
