// GgufWriter: what it writes, GgufFile reads back exactly; what it must refuse, it refuses.
#include "engine/gguf/gguf_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/gguf/gguf_file.h"
#include "tests/gguf/sample_gguf.h"

namespace ovid::gguf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("ovid_gguf_writer_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  size_t FilesInDir() const {
    return std::distance(std::filesystem::directory_iterator(dir_),
                         std::filesystem::directory_iterator());
  }
  std::filesystem::path dir_;
};

void ExpectSampleReadsBack(const std::string& path, uint32_t alignment) {
  GgufWriter plan(alignment);
  ASSERT_TRUE(testing::PlanSample(&plan).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  EXPECT_EQ(f.file_size() % alignment, 0u) << "padding after the last tensor";
  // general.alignment is written only when it differs from the default.
  const size_t extra = alignment == kDefaultAlignment ? 0 : 1;
  ASSERT_EQ(f.metadata().size(), plan.metadata().size() + extra);
  if (extra) {
    EXPECT_EQ(*f.GetUint("general.alignment"), alignment);
  }
  for (const KeyValue& kv : plan.metadata()) {
    const Value* v = f.FindMetadata(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_TRUE(*v == kv.value) << kv.key << ": " << v->ToString() << " vs " << kv.value.ToString();
  }
  ASSERT_EQ(f.tensors().size(), plan.tensors().size());
  for (size_t i = 0; i < plan.tensors().size(); ++i) {
    const GgufWriter::PlannedTensor& want = plan.tensors()[i];
    const TensorInfo& got = f.tensors()[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(got.ne, want.ne);
    EXPECT_EQ(got.nbytes, want.nbytes);
    EXPECT_EQ(got.offset, want.offset);
    EXPECT_EQ(got.offset % alignment, 0u);
    auto data = f.TensorData(got);
    const std::vector<uint8_t> expected = testing::SampleTensorBytes(i, want.nbytes);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), expected.begin(), expected.end())) << got.name;
  }
  const TensorInfo* patch = f.FindTensor("patch_embedding.weight");
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->TorchShape(), (std::vector<int64_t>{4, 3, 1, 2, 2}));
  EXPECT_EQ(patch->nbytes, 48u * 4u);
  EXPECT_EQ(f.FindTensor("t.q4_k")->nbytes, 2u * 144u);
  EXPECT_EQ(f.FindTensor("t.q6_k")->nbytes, 2u * 210u);
}

TEST_F(GgufWriterTest, SampleRoundTripsDefaultAlignment) {
  ASSERT_TRUE(testing::WriteSample(Path("sample.gguf")).ok());
  ExpectSampleReadsBack(Path("sample.gguf"), 32);
  EXPECT_EQ(FilesInDir(), 1u) << "no temporary file left behind";
}

TEST_F(GgufWriterTest, SampleRoundTripsCustomAlignment) {
  ASSERT_TRUE(testing::WriteSample(Path("sample64.gguf"), 64).ok());
  ExpectSampleReadsBack(Path("sample64.gguf"), 64);
}

TEST_F(GgufWriterTest, EmptyFileRoundTrips) {
  GgufWriter writer;
  ASSERT_TRUE(writer.Write(Path("empty.gguf"), nullptr).ok());
  auto file = GgufFile::Open(Path("empty.gguf"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST_F(GgufWriterTest, RefusesBadMetadata) {
  GgufWriter w;
  ASSERT_TRUE(w.AddMetadata("k", Value::U32(1)).ok());
  auto expect = [](absl::Status s, const std::string& fragment) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(fragment));
  };
  expect(w.AddMetadata("", Value::U8(1)), "empty metadata key");
  expect(w.AddMetadata("k", Value::U8(1)), "duplicate metadata key 'k'");
  expect(w.AddMetadata("general.alignment", Value::U32(64)), "set by the writer");
  expect(w.AddMetadata("range", Value{ValueType::kUint8, uint64_t{300}}), "300 is out of range");
  expect(w.AddMetadata("mixed", Value::Arr(ValueType::kInt32, {Value::I32(1), Value::U8(2)})),
         "item 1 has type UINT8");
  expect(w.AddMetadata("alt", Value{ValueType::kString, uint64_t{1}}), "wrong C++ alternative");
  Value deep = Value::Arr(ValueType::kUint8, {});
  for (int i = 0; i < 8; ++i) deep = Value::Arr(ValueType::kArray, {deep});
  expect(w.AddMetadata("deep", deep), "nests deeper than 8");
}

TEST_F(GgufWriterTest, RefusesBadTensors) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("w", GgmlType::kF32, {4}).ok());
  auto expect = [](absl::Status s, const std::string& fragment) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(fragment));
  };
  expect(w.AddTensor("w", GgmlType::kF32, {4}), "duplicate tensor name");
  expect(w.AddTensor(std::string(64, 'x'), GgmlType::kF32, {4}), "name is 64 bytes");
  expect(w.AddTensor("q", GgmlType::kQ4_K, {255}), "not a multiple of the q4_K block size 256");
  expect(w.AddTensor("q5", GgmlType::kQ8_0, {32, 1, 1, 1, 1}), "allows at most 4");
  expect(w.AddTensor("p9", GgmlType::kF32, {1, 1, 1, 1, 1, 1, 1, 1, 1}), "allows at most 8");
  expect(w.AddTensor("r", static_cast<GgmlType>(4), {32}), "invalid ggml type id 4");
  expect(w.AddTensor("n", GgmlType::kF32, {4, -2}), "ne[1] = -2 is negative");
  expect(w.AddTensor("o", GgmlType::kF32, {int64_t{1} << 40, int64_t{1} << 40}), "overflows");
}

TEST_F(GgufWriterTest, CallbackErrorLeavesNoFile) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {4}).ok());
  ASSERT_TRUE(w.AddTensor("b", GgmlType::kF32, {4}).ok());
  absl::Status s = w.Write(Path("fail.gguf"), [](const auto& t, std::vector<uint8_t>* out) {
    if (t.name == "b") return absl::DataLossError("source tensor unreadable");
    out->assign(t.nbytes, 0);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("fail.gguf"), HasSubstr("tensor 'b'"),
                                 HasSubstr("source tensor unreadable")));
  EXPECT_EQ(FilesInDir(), 0u);
}

TEST_F(GgufWriterTest, WrongByteCountIsAnError) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("a", GgmlType::kQ8_0, {64}).ok());
  absl::Status s = w.Write(Path("short.gguf"), [](const auto&, std::vector<uint8_t>* out) {
    out->assign(10, 0);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("tensor 'a'"), HasSubstr("produced 10 bytes, "
                                                                    "expected 68")));
  EXPECT_EQ(FilesInDir(), 0u);
}

TEST_F(GgufWriterTest, ReplacesAnExistingFile) {
  std::ofstream(Path("old.gguf")) << "not a gguf";
  ASSERT_TRUE(testing::WriteSample(Path("old.gguf")).ok());
  ExpectSampleReadsBack(Path("old.gguf"), 32);
}

TEST_F(GgufWriterTest, BadAlignmentAndBadDirectory) {
  GgufWriter w(48);
  absl::Status s = w.Write(Path("x.gguf"), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("alignment 48"));
  const std::string missing = Path("no/such/dir/x.gguf");
  s = GgufWriter().Write(missing, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir/x.gguf"));
}

}  // namespace
}  // namespace ovid::gguf
