// GgufFile on well-formed bytes crafted field by field: every value type, nested arrays,
// typed accessors, tensor geometry and data spans.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/gguf/gguf_file.h"
#include "tests/gguf/gguf_bytes.h"

namespace ovid::gguf {
namespace {

using ::testing::AllOf;
using testing::GgufBytes;
using ::testing::HasSubstr;

class GgufReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b_.Header(3, 17);
    b_.Key("u8", 0).U8(250);
    b_.Key("i8", 1).Put<int8_t>(-5);
    b_.Key("u16", 2).Put<uint16_t>(65535);
    b_.Key("i16", 3).Put<int16_t>(-32768);
    b_.Key("u32", 4).U32(4294967295u);
    b_.Key("i32", 5).Put<int32_t>(-7);
    b_.Key("f32", 6).Put<float>(0.1f);
    b_.Key("bool", 7).U8(1);
    b_.Key("str", 8).Str("ovi \xF0\x9F\x8E\xAC");
    b_.Key("arr", 9).U32(12).U64(3).Put<double>(1.5).Put<double>(-0.0).Put<double>(
        std::numeric_limits<double>::infinity());
    b_.Key("u64", 10).U64(std::numeric_limits<uint64_t>::max());
    b_.Key("i64", 11).I64(std::numeric_limits<int64_t>::min());
    b_.Key("f64", 12).Put<double>(1e300);
    b_.Key("nested", 9).U32(9).U64(2).U32(8).U64(1).Str("in").U32(0).U64(0);
    b_.Key("neg_i32", 5).Put<int32_t>(-1);
    b_.Key("pos_i16", 3).Put<int16_t>(12);
    b_.Key("general.alignment", 4).U32(64);
    b_.TensorInfo("f32.w", {3, 2}, 0, 0);
    b_.TensorInfo("q4k.w", {256, 2}, 12, 64);
    b_.TensorInfo("scalar", {}, 0, 384);
    b_.PadTo(64);
    data_start_ = b_.size();
    b_.Fill(24, 0xAB).PadTo(64).Fill(288, 0xCD).PadTo(64).Fill(4, 0xEF);
    auto file = GgufFile::FromBuffer("crafted.gguf", std::span<const uint8_t>(b_.bytes()));
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
  }
  GgufBytes b_;
  size_t data_start_ = 0;
  std::unique_ptr<GgufFile> file_;
};

TEST_F(GgufReaderTest, HeaderAndLayout) {
  EXPECT_EQ(file_->version(), 3u);
  EXPECT_EQ(file_->alignment(), 64u);
  EXPECT_EQ(file_->data_offset(), data_start_);
  EXPECT_EQ(file_->file_size(), b_.size());
  EXPECT_EQ(file_->path(), "crafted.gguf");
  ASSERT_EQ(file_->metadata().size(), 17u);
  EXPECT_EQ(file_->metadata()[0].key, "u8");  // file order is kept
  EXPECT_EQ(file_->metadata()[16].key, "general.alignment");
}

TEST_F(GgufReaderTest, EveryScalarType) {
  EXPECT_EQ(*file_->GetUint("u8"), 250u);
  EXPECT_EQ(*file_->GetInt("i8"), -5);
  EXPECT_EQ(*file_->GetUint("u16"), 65535u);
  EXPECT_EQ(*file_->GetInt("i16"), -32768);
  EXPECT_EQ(*file_->GetUint("u32"), 4294967295u);
  EXPECT_EQ(*file_->GetInt("i32"), -7);
  EXPECT_EQ(*file_->GetFloat("f32"), static_cast<double>(0.1f));
  EXPECT_TRUE(*file_->GetBool("bool"));
  EXPECT_EQ(*file_->GetString("str"), "ovi \xF0\x9F\x8E\xAC");
  EXPECT_EQ(*file_->GetUint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*file_->GetInt("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*file_->GetFloat("f64"), 1e300);
  EXPECT_EQ(file_->FindMetadata("u8")->type, ValueType::kUint8);
  EXPECT_EQ(file_->FindMetadata("i16")->type, ValueType::kInt16);
}

TEST_F(GgufReaderTest, ArraysAndNestedArrays) {
  const Value* arr = file_->FindMetadata("arr");
  ASSERT_NE(arr, nullptr);
  const Array& a = std::get<Array>(arr->data);
  EXPECT_EQ(a.elem_type, ValueType::kFloat64);
  ASSERT_EQ(a.items.size(), 3u);
  EXPECT_EQ(std::get<double>(a.items[0].data), 1.5);
  EXPECT_TRUE(std::signbit(std::get<double>(a.items[1].data)));
  EXPECT_TRUE(std::isinf(std::get<double>(a.items[2].data)));
  const Value expected_nested = Value::Arr(
      ValueType::kArray,
      {Value::Arr(ValueType::kString, {Value::Str("in")}), Value::Arr(ValueType::kUint8, {})});
  EXPECT_TRUE(*file_->FindMetadata("nested") == expected_nested)
      << file_->FindMetadata("nested")->ToString();
}

TEST_F(GgufReaderTest, AccessorConversionsAndErrors) {
  EXPECT_EQ(*file_->GetUint("pos_i16"), 12u);    // a non-negative signed value fits
  EXPECT_EQ(*file_->GetInt("u32"), 4294967295);  // an unsigned value that fits int64
  auto neg = file_->GetUint("neg_i32");
  EXPECT_EQ(neg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(neg.status().message(),
              AllOf(HasSubstr("crafted.gguf"), HasSubstr("'neg_i32'"), HasSubstr("-1")));
  auto big = file_->GetInt("u64");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("does not fit int64"));
  auto missing = file_->GetString("general.name");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'general.name' is missing"));
  auto wrong = file_->GetString("u8");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("'u8' has type UINT8, expected STRING"));
  EXPECT_FALSE(file_->GetFloat("i32").ok());
  EXPECT_FALSE(file_->GetBool("u8").ok());
  EXPECT_FALSE(file_->GetUint("f32").ok());
  EXPECT_EQ(file_->FindMetadata("nope"), nullptr);
}

TEST_F(GgufReaderTest, TensorsAndData) {
  ASSERT_EQ(file_->tensors().size(), 3u);
  const TensorInfo* f32 = file_->FindTensor("f32.w");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->type, GgmlType::kF32);
  EXPECT_EQ(f32->ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(f32->TorchShape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f32->n_elements, 6);
  EXPECT_EQ(f32->nbytes, 24u);
  EXPECT_EQ(f32->RowElements(), 3);
  EXPECT_EQ(f32->Rows(), 2);
  const TensorInfo* q = file_->FindTensor("q4k.w");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->nbytes, 288u);
  EXPECT_EQ(q->offset, 64u);
  auto data = file_->TensorData(*q);
  ASSERT_EQ(data.size(), 288u);
  EXPECT_EQ(data.data(), b_.bytes().data() + data_start_ + 64);
  EXPECT_EQ(data.front(), 0xCD);
  EXPECT_EQ(data.back(), 0xCD);
  const TensorInfo* scalar = file_->FindTensor("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->ne.empty());
  EXPECT_EQ(scalar->n_elements, 1);
  // One row of one element (Rows() said 0: ovid-gguf dequant wrote 0 bytes for it).
  EXPECT_EQ(scalar->Rows(), 1);
  EXPECT_EQ(scalar->RowElements(), 1);
  EXPECT_EQ(file_->TensorData(*scalar)[0], 0xEF);
  EXPECT_EQ(file_->FindTensor("absent"), nullptr);
}

}  // namespace
}  // namespace ovid::gguf
