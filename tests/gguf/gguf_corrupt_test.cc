// Hostile and corrupt GGUF files: each must fail with InvalidArgument (or ResourceExhausted)
// and a message naming the file, the key or tensor, the byte offset and the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_limits.h"
#include "tests/gguf/gguf_bytes.h"

namespace ovid::gguf {
namespace {

using ::testing::AllOf;
using testing::GgufBytes;
using ::testing::HasSubstr;

constexpr char kName[] = "corrupt.gguf";
constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ8_0 = 8, kIQ2_XXS = 16, kF64 = 28;
constexpr uint32_t kTypeU8 = 0, kTypeI32 = 5, kTypeBool = 7, kTypeString = 8, kTypeArray = 9;

absl::StatusOr<std::unique_ptr<GgufFile>> Parse(const GgufBytes& b) {
  return GgufFile::FromBuffer(kName, std::span<const uint8_t>(b.bytes()));
}

// Expects InvalidArgument and a message containing the file name and every fragment.
void ExpectError(const GgufBytes& b, std::vector<std::string> fragments,
                 absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  auto file = Parse(b);
  ASSERT_FALSE(file.ok()) << "a corrupt file parsed";
  EXPECT_EQ(file.status().code(), code) << file.status();
  const std::string message(file.status().message());
  EXPECT_THAT(message, HasSubstr(kName));
  for (const std::string& f : fragments) EXPECT_THAT(message, HasSubstr(f));
}

std::string At(size_t offset) { return absl::StrCat("at byte offset ", offset); }

// A small valid file: two metadata entries, two tensors (f32 and q8_0).
GgufBytes ValidFile() {
  GgufBytes b;
  b.Header(2, 2).KvStr("general.architecture", "ovi").KvU32("general.quantization_version", 2);
  b.TensorInfo("a", {4, 2}, kF32, 0).TensorInfo("b", {32}, kQ8_0, 32).PadTo(32);
  b.Fill(32, 0x11).Fill(34, 0x22).PadTo(32);
  return b;
}

TEST(GgufCorruptTest, ValidBaselineParses) {
  auto file = Parse(ValidFile());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 2u);
}

TEST(GgufCorruptTest, EmptyFile) { ExpectError(GgufBytes(), {"truncated", "magic", At(0)}); }

TEST(GgufCorruptTest, BadMagic) {
  GgufBytes b;
  b.Raw("GGUX").U32(3).U64(0).U64(0);
  ExpectError(b, {"bad magic", "header", At(0)});
}

TEST(GgufCorruptTest, VersionZero) {
  ExpectError(GgufBytes().Header(0, 0, 0), {"version 0", At(4)});
}

TEST(GgufCorruptTest, VersionOne) {
  ExpectError(GgufBytes().Header(0, 0, 1), {"version 1 is no longer supported", At(4)});
}

TEST(GgufCorruptTest, VersionFour) {
  ExpectError(GgufBytes().Header(0, 0, 4), {"unsupported GGUF version 4", At(4)});
}

TEST(GgufCorruptTest, BigEndianRefusedByName) {
  GgufBytes b;
  b.Raw("GGUF").U32(0x03000000).U64(0).U64(0);
  ExpectError(b, {"big-endian", "0x03000000", At(4)});
}

TEST(GgufCorruptTest, NegativeTensorCount) {
  ExpectError(GgufBytes().Header(~uint64_t{0}, 0), {"tensor count", "negative", At(8)});
}

TEST(GgufCorruptTest, HugeTensorCount) {
  ExpectError(GgufBytes().Header(uint64_t{1} << 40, 0),
              {"tensor count 1099511627776", "cannot fit", At(8)});
}

TEST(GgufCorruptTest, HugeMetadataCount) {
  ExpectError(GgufBytes().Header(0, uint64_t{1} << 50),
              {"metadata count 1125899906842624", "cannot fit", At(16)});
}

TEST(GgufCorruptTest, HugeKeyLength) {
  GgufBytes b;
  b.Header(0, 1).U64(uint64_t{1} << 40).Raw("xxxxxxxxxxxxxx");
  ExpectError(b, {"metadata entry #0", "string length 1099511627776 exceeds the limit", At(24)});
}

TEST(GgufCorruptTest, KeyPastEndOfFile) {
  GgufBytes b;
  b.Header(0, 1).U64(100).Raw("short-key-and-then-eof");
  ExpectError(b, {"metadata entry #0", "truncated: string of 100 bytes", At(24)});
}

TEST(GgufCorruptTest, HugeStringValueLength) {
  GgufBytes b;
  b.Header(0, 1).Key("general.name", kTypeString);
  const size_t at = b.size();
  b.U64(uint64_t{1} << 31).Raw("abc");
  ExpectError(b, {"metadata key 'general.name'", "string length 2147483648 exceeds", At(at)});
}

TEST(GgufCorruptTest, HugeArrayCount) {
  GgufBytes b;
  b.Header(0, 1).Key("tokenizer.scores", kTypeArray).U32(kTypeU8);
  const size_t at = b.size();
  b.U64((uint64_t{1} << 30) + 1).Fill(16, 0);
  ExpectError(b, {"metadata key 'tokenizer.scores'", "array count 1073741825 exceeds", At(at)});
}

TEST(GgufCorruptTest, ArrayCountBeyondRemainingBytes) {
  GgufBytes b;
  b.Header(0, 1).Key("counts", kTypeArray).U32(kTypeI32);
  const size_t at = b.size();
  b.U64(1000000).Fill(40, 0);
  ExpectError(b, {"metadata key 'counts'", "array of 1000000 INT32", "only 40 remain", At(at)});
}

TEST(GgufCorruptTest, StringArrayCountBeyondRemainingBytes) {
  GgufBytes b;
  b.Header(0, 1).Key("tokenizer.tokens", kTypeArray).U32(kTypeString);
  const size_t at = b.size();
  b.U64(uint64_t{1} << 29).Str("a").Str("b");
  ExpectError(b, {"metadata key 'tokenizer.tokens'", "STRING elements", At(at)});
}

TEST(GgufCorruptTest, NestedArrayDepthBomb) {
  GgufBytes b;
  b.Header(0, 1).Key("bomb", kTypeArray);
  for (int i = 0; i < 100; ++i) b.U32(kTypeArray).U64(1);
  b.U32(kTypeU8).U64(0);
  // Level 1's elem_type starts at 24 + 8 + 4 + 4; each level adds 12 bytes; level 9 fails.
  ExpectError(b, {"metadata key 'bomb'", "nested deeper than 8 levels", At(40 + 8 * 12)});
}

// Every count fits the file, but one file byte per item expands to a whole Value in memory:
// the parsed-size budget refuses it before allocating.
TEST(GgufCorruptTest, AllocationBudget) {
  const uint64_t count = kMaxParsedBytes / sizeof(Value) + 1024;
  GgufBytes b;
  b.Header(0, 1).Key("huge.u8", kTypeArray).U32(kTypeU8);
  const size_t at = b.size() + 8;
  b.U64(count).Fill(count, 1);
  ExpectError(b, {"metadata key 'huge.u8'", "would need more than", At(at)},
              absl::StatusCode::kResourceExhausted);
}

TEST(GgufCorruptTest, NestedArraysToTheLimitParse) {
  GgufBytes b;
  b.Header(0, 1).Key("deep", kTypeArray);
  for (int i = 0; i < 7; ++i) b.U32(kTypeArray).U64(1);
  b.U32(kTypeI32).U64(2).U32(7).U32(9);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  const Value* v = (*file)->FindMetadata("deep");
  ASSERT_NE(v, nullptr);
  for (int i = 0; i < 7; ++i) v = &std::get<Array>(v->data).items.at(0);
  EXPECT_EQ(std::get<int64_t>(std::get<Array>(v->data).items.at(1).data), 9);
}

TEST(GgufCorruptTest, BadValueType) {
  GgufBytes b;
  b.Header(0, 1);
  const size_t at = b.size() + 8 + 9;
  b.Key("weird.key", 13).U32(0);
  ExpectError(b, {"metadata key 'weird.key'", "invalid value type id 13", At(at)});
}

TEST(GgufCorruptTest, BadArrayElementType) {
  GgufBytes b;
  b.Header(0, 1).Key("arr", kTypeArray);
  const size_t at = b.size();
  b.U32(99).U64(0);
  ExpectError(b, {"metadata key 'arr'", "invalid value type id 99", At(at)});
}

TEST(GgufCorruptTest, EmptyKey) {
  GgufBytes b;
  b.Header(0, 2).KvU32("ok", 1).Key("", kTypeU8).U8(0);
  ExpectError(b, {"metadata entry #1", "empty key", At(24 + 8 + 2 + 4 + 4)});
}

TEST(GgufCorruptTest, DuplicateKey) {
  GgufBytes b;
  b.Header(0, 2).KvU32("dup.key", 1);
  const size_t at = b.size();
  b.KvU32("dup.key", 2);
  ExpectError(
      b, {"metadata key 'dup.key'", "duplicate key", "first defined at byte offset 24", At(at)});
}

TEST(GgufCorruptTest, AlignmentWrongType) {
  GgufBytes b;
  b.Header(0, 1).Key("general.alignment", kTypeI32).U32(32);
  ExpectError(b, {"general.alignment", "has type INT32, expected UINT32", At(24)});
}

TEST(GgufCorruptTest, AlignmentZero) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", 0);
  ExpectError(b, {"general.alignment", "alignment 0 is not a non-zero power of two", At(24)});
}

TEST(GgufCorruptTest, AlignmentNotPowerOfTwo) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", 48);
  ExpectError(b, {"general.alignment", "alignment 48 is not", At(24)});
}

// A 64-byte file claiming 2^28 made `ovid-gguf quantize` write (and allocate) a 256 MiB header
// pad; 2^31 would be 2 GiB on disk and 4 GiB of memory.
TEST(GgufCorruptTest, AlignmentOverTheCap) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", uint32_t{1} << 28);
  ExpectError(b,
              {"general.alignment", "alignment 268435456 is more than the 2097152 bytes", At(24)});
  GgufBytes ok;
  ok.Header(0, 1).KvU32("general.alignment", uint32_t{1} << 21);
  ASSERT_TRUE(Parse(ok).ok());
}

TEST(GgufCorruptTest, BoolNonZeroIsTrueLikeGgml) {
  GgufBytes b;
  b.Header(0, 3).Key("t2", kTypeBool).U8(2).Key("t255", kTypeBool).U8(255);
  b.Key("f", kTypeBool).U8(0);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(*(*file)->GetBool("t2"));
  EXPECT_TRUE(*(*file)->GetBool("t255"));
  EXPECT_FALSE(*(*file)->GetBool("f"));
}

TEST(GgufCorruptTest, TruncatedValue) {
  GgufBytes b;
  b.Header(0, 1).Key("general.file_type", 10);
  const size_t at = b.size();
  b.U32(1);  // a UINT64 needs 8 bytes
  ExpectError(
      b, {"metadata key 'general.file_type'", "truncated: UINT64 value needs 8 bytes", At(at)});
}

TEST(GgufCorruptTest, TensorNameTooLong) {
  GgufBytes b;
  b.Header(1, 0);
  const std::string name(64, 'n');
  b.TensorInfo(name, {32}, kF32, 0).PadTo(32).Fill(128, 0);
  ExpectError(b, {"tensor 'nnnn", "name is 64 bytes; at most 63", At(24)});
}

TEST(GgufCorruptTest, TensorName63BytesIsFine) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo(std::string(63, 'n'), {32}, kF32, 0).PadTo(32).Fill(128, 0);
  EXPECT_TRUE(Parse(b).ok());
}

TEST(GgufCorruptTest, DuplicateTensorName) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("w", {8}, kF32, 0);
  const size_t at = b.size();
  b.TensorInfo("w", {8}, kF32, 32).PadTo(32).Fill(64, 0);
  ExpectError(b,
              {"tensor 'w'", "duplicate tensor name", "first defined at byte offset 24", At(at)});
}

TEST(GgufCorruptTest, TooManyDims) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("nine", {1, 1, 1, 1, 1, 1, 1, 1, 1}, kF32, 0).PadTo(32).Fill(32, 0);
  ExpectError(b, {"tensor 'nine'", "has 9 dims; at most 8", At(24 + 12)});
}

TEST(GgufCorruptTest, QuantizedTensorWithFiveDims) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("q", {32, 1, 1, 1, 1}, kQ4_0, 0).PadTo(32).Fill(32, 0);
  ExpectError(b, {"tensor 'q'", "has 5 dims; quantized type q4_0 allows at most 4", At(24 + 9)});
}

TEST(GgufCorruptTest, PlainTensorWithFiveDimsParses) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("patch", {2, 2, 1, 3, 4}, kF32, 0).PadTo(32).Fill(192, 0);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors()[0].TorchShape(), (std::vector<int64_t>{4, 3, 1, 2, 2}));
  EXPECT_EQ((*file)->tensors()[0].nbytes, 192u);
}

TEST(GgufCorruptTest, NegativeDim) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("neg", {4, -1}, kF32, 0).PadTo(32).Fill(32, 0);
  ExpectError(b, {"tensor 'neg'", "ne[1] = -1 is negative", At(24 + 11 + 4 + 8)});
}

TEST(GgufCorruptTest, ElementCountOverflows) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("big", {int64_t{1} << 32, int64_t{1} << 32}, kF32, 0).PadTo(32);
  ExpectError(b, {"tensor 'big'", "element count overflows int64"});
}

TEST(GgufCorruptTest, ByteSizeOverflows) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("f64", {int64_t{1} << 61}, kF64, 0).PadTo(32);
  ExpectError(b, {"tensor 'f64'", "byte size overflows"});
}

TEST(GgufCorruptTest, UnknownTypeId) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("t", {32}, 43, 0).PadTo(32).Fill(128, 0);
  ExpectError(b, {"tensor 't'", "unknown ggml type id 43", At(24 + 9 + 4 + 8)});
}

TEST(GgufCorruptTest, RemovedTypeIds) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u}) {
    GgufBytes b;
    b.Header(1, 0).TensorInfo("t", {32}, id, 0).PadTo(32).Fill(128, 0);
    ExpectError(
        b, {"tensor 't'", absl::StrCat("ggml type id ", id, " was removed"), At(24 + 9 + 4 + 8)});
  }
}

TEST(GgufCorruptTest, Ne0NotMultipleOfBlock) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("q8", {33, 2}, kQ8_0, 0).PadTo(32).Fill(128, 0);
  ExpectError(b, {"tensor 'q8'", "ne[0] = 33 is not a multiple of the q8_0 block size 32"});
}

TEST(GgufCorruptTest, IqTypeIsSizedFromTheTable) {
  // ovid cannot dequantize IQ2_XXS, but the reader must still size it (66 bytes per 256).
  GgufBytes b;
  b.Header(1, 0).TensorInfo("iq", {512, 3}, kIQ2_XXS, 0).PadTo(32).Fill(6 * 66, 0).PadTo(32);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors()[0].nbytes, 6u * 66u);
}

TEST(GgufCorruptTest, MisalignedOffset) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("m", {8}, kF32, 8).PadTo(32).Fill(64, 0);
  ExpectError(b, {"tensor 'm'", "data offset 8 is not a multiple of the alignment 32",
                  At(24 + 9 + 4 + 8 + 4)});
}

TEST(GgufCorruptTest, MisalignedForCustomAlignment) {
  GgufBytes b;
  b.Header(1, 1).KvU32("general.alignment", 64).TensorInfo("m", {8}, kF32, 32).PadTo(64);
  b.Fill(128, 0);
  ExpectError(b, {"tensor 'm'", "data offset 32 is not a multiple of the alignment 64"});
}

TEST(GgufCorruptTest, DataAlignedBelowWhatItsTypeNeeds) {
  // general.alignment 1 is a power of two, but a q8_0 tensor at an odd address would have its
  // f16 scales loaded misaligned by the CPU decoders.
  GgufBytes b;
  b.Header(1, 1).KvU32("general.alignment", 1).TensorInfo("odd_", {32}, kQ8_0, 0);
  ASSERT_EQ(b.size() % 2, 1u) << "the headers should end at an odd offset (93)";
  const size_t data = b.size();
  b.Fill(34, 0);
  ExpectError(b, {"tensor 'odd_'", absl::StrCat("data starts at byte offset ", data),
                  "q8_0 data must be 2-byte aligned", "general.alignment is 1"});
  // The same alignment with the tensor on an even address parses.
  GgufBytes even;
  even.Header(1, 1).KvU32("general.alignment", 1).TensorInfo("even", {32}, kQ8_0, 1);
  even.Fill(35, 0);
  auto file = Parse(even);
  ASSERT_TRUE(file.ok()) << file.status();
}

TEST(GgufCorruptTest, QuantizedScalar) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("s", {}, kQ8_0, 0).PadTo(32).Fill(34, 0);
  ExpectError(b, {"tensor 's'", "has no dims (a scalar), which quantized type q8_0 cannot hold"});
}

TEST(GgufCorruptTest, OverlappingTensors) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("first", {16}, kF32, 0);
  const size_t at = b.size();
  b.TensorInfo("second", {8}, kF32, 32).PadTo(32);
  const size_t data = b.size();
  b.Fill(96, 0);
  ExpectError(b, {"tensor 'second'", "overlaps tensor 'first'", At(at),
                  absl::StrCat("[", data + 32, ", ", data + 64, ")")});
}

TEST(GgufCorruptTest, OutOfOrderTensorsParse) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("late", {8}, kF32, 64).TensorInfo("early", {16}, kF32, 0);
  b.PadTo(32).Fill(96, 0);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->FindTensor("late")->offset, 64u);
}

TEST(GgufCorruptTest, OffsetPastEnd) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("far", {8}, kF32, 1024).PadTo(32).Fill(32, 0);
  ExpectError(b, {"tensor 'far'", "extends past the end of the file", At(24)});
}

TEST(GgufCorruptTest, HugeOffsetDoesNotWrap) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("wrap", {8}, kF32, ~uint64_t{31}).PadTo(32).Fill(32, 0);
  ExpectError(b, {"tensor 'wrap'", "extends past the end of the file"});
}

TEST(GgufCorruptTest, DataSectionPastEnd) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("t", {0}, kF32, 0);  // 57 bytes, no padding: data would start at 64
  ExpectError(b, {"data section", "past the end of the file", At(b.size())});
}

TEST(GgufCorruptTest, VersionTwoParses) {
  GgufBytes b;
  b.Header(1, 1, 2).KvStr("general.architecture", "x").TensorInfo("t", {4}, kF32, 0).PadTo(32);
  b.Fill(32, 0);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->version(), 2u);
}

// Single-field mutations of a valid file: the layout is recorded while building it.
struct ValidLayout {
  GgufBytes b;
  size_t kv_arch = 0, kv_quant = 0, tensor_a = 0, tensor_b = 0;
};

ValidLayout BuildValidLayout() {
  ValidLayout l;
  l.b.Header(2, 2);
  l.kv_arch = l.b.size();
  l.b.KvStr("general.architecture", "ovi");
  l.kv_quant = l.b.size();
  l.b.KvU32("general.quantization_version", 2);
  l.tensor_a = l.b.size();
  l.b.TensorInfo("a", {4, 2}, kF32, 0);
  l.tensor_b = l.b.size();
  l.b.TensorInfo("b", {32}, kQ8_0, 32).PadTo(32).Fill(32, 0x11).Fill(34, 0x22).PadTo(32);
  return l;
}

template <typename T>
GgufBytes Mutate(size_t offset, T value) {
  GgufBytes b = BuildValidLayout().b;
  std::memcpy(b.mutable_bytes().data() + offset, &value, sizeof(T));
  return b;
}

TEST(GgufMutationTest, MutatedFieldsOfAValidFile) {
  const ValidLayout l = BuildValidLayout();
  ASSERT_TRUE(Parse(l.b).ok());
  const size_t arch_type = l.kv_arch + 8 + 20;  // after the key "general.architecture"
  const size_t b_dims = l.tensor_b + 8 + 1 + 4;
  const size_t b_type = b_dims + 8;
  const size_t b_offset = b_type + 4;
  ExpectError(Mutate<uint8_t>(3, 'X'), {"bad magic", At(0)});
  ExpectError(Mutate<uint32_t>(4, 0x00030000), {"big-endian", At(4)});
  ExpectError(Mutate<uint32_t>(arch_type, 13),
              {"metadata key 'general.architecture'", "invalid value type id 13", At(arch_type)});
  ExpectError(Mutate<uint64_t>(arch_type + 4, uint64_t{1} << 40),
              {"metadata key 'general.architecture'", "string length 1099511627776 exceeds",
               At(arch_type + 4)});
  ExpectError(Mutate<uint64_t>(l.kv_quant, 0), {"metadata entry #1", "empty key", At(l.kv_quant)});
  ExpectError(Mutate<uint32_t>(b_type, 5), {"tensor 'b'", "type id 5 was removed", At(b_type)});
  ExpectError(Mutate<uint32_t>(b_type, 1000), {"tensor 'b'", "unknown ggml type id 1000"});
  ExpectError(Mutate<int64_t>(b_dims, 48), {"tensor 'b'", "ne[0] = 48 is not a multiple"});
  ExpectError(Mutate<uint64_t>(b_offset, 40), {"tensor 'b'", "not a multiple of the alignment"});
  ExpectError(Mutate<uint64_t>(b_offset, 0), {"tensor 'b'", "overlaps tensor 'a'"});
  ExpectError(Mutate<uint64_t>(b_offset, 64), {"tensor 'b'", "extends past the end"});
  ExpectError(Mutate<uint32_t>(l.tensor_a + 9, 9), {"tensor 'a'", "has 9 dims"});
  // A third tensor info that does not exist: its fields are read from the padding and data.
  ExpectError(Mutate<uint64_t>(8, 3), {"tensor #2"});
  auto v2 = Parse(Mutate<uint32_t>(4, 2));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ((*v2)->version(), 2u);
}

// Every proper prefix of a valid file is a truncated file: each must fail cleanly.
TEST(GgufCorruptTest, TruncatedAtEveryByte) {
  GgufBytes full;
  full.Header(3, 4).KvStr("general.architecture", "ovi").KvU32("general.alignment", 32);
  full.Key("nested", kTypeArray).U32(kTypeArray).U64(2);
  full.U32(kTypeString).U64(2).Str("x").Str("yz").U32(kTypeI32).U64(1).U32(5);
  full.Key("flag", kTypeBool).U8(1);
  full.TensorInfo("a", {4, 2}, kF32, 0).TensorInfo("b", {32}, kQ8_0, 32);
  full.TensorInfo("c", {2, 2, 2, 2, 2}, kF32, 96).PadTo(32);
  full.Fill(32, 1).Fill(34, 2).PadTo(32).Fill(128, 3);  // c's 128 bytes end the file exactly
  ASSERT_TRUE(Parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.bytes().begin(), full.bytes().begin() + n);
    auto file = GgufFile::FromBuffer(kName, prefix);
    ASSERT_FALSE(file.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
    EXPECT_THAT(file.status().message(), AllOf(HasSubstr(kName), HasSubstr("byte offset")))
        << "prefix " << n;
  }
}

// The same checks through Open(): real files, real mappings.
class GgufOpenCorruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ovid_gguf_corrupt_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string WriteFile(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(GgufOpenCorruptTest, MissingFile) {
  const std::string path = (dir_ / "missing.gguf").string();
  auto file = GgufFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), AllOf(HasSubstr(path), HasSubstr("open")));
}

TEST_F(GgufOpenCorruptTest, EmptyFile) {
  const std::string path = WriteFile("empty.gguf", {});
  auto file = GgufFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), AllOf(HasSubstr(path), HasSubstr("truncated")));
}

TEST_F(GgufOpenCorruptTest, Directory) {
  auto file = GgufFile::Open(dir_.string());
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("not a regular file"));
}

TEST_F(GgufOpenCorruptTest, FifoIsRefusedWithoutWaitingForAWriter) {
  // Opening a FIFO for reading blocks until a writer comes; the reader must not hang there.
  const std::string path = (dir_ / "model.gguf").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  auto file = GgufFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), AllOf(HasSubstr(path), HasSubstr("not a regular file")));
}

TEST_F(GgufOpenCorruptTest, CorruptFilesOnDisk) {
  struct Case {
    std::string name;
    GgufBytes bytes;
    std::string fragment;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"big_endian.gguf", GgufBytes().Raw("GGUF").U32(0x03000000).U64(0).U64(0), "big-endian"});
  cases.push_back({"v1.gguf", GgufBytes().Header(0, 0, 1), "version 1"});
  GgufBytes overlap;
  overlap.Header(2, 0).TensorInfo("x", {16}, kF32, 0).TensorInfo("y", {16}, kF32, 32).PadTo(32);
  overlap.Fill(96, 0);
  cases.push_back({"overlap.gguf", overlap, "overlaps tensor 'x'"});
  GgufBytes valid = ValidFile();
  valid.mutable_bytes().resize(valid.size() - 40);
  cases.push_back({"truncated_data.gguf", valid, "tensor 'b'"});
  for (const Case& c : cases) {
    const std::string path = WriteFile(c.name, c.bytes.bytes());
    auto file = GgufFile::Open(path);
    ASSERT_FALSE(file.ok()) << c.name;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(file.status().message(), AllOf(HasSubstr(path), HasSubstr(c.fragment)));
  }
  const std::string path = WriteFile("valid.gguf", ValidFile().bytes());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* b = (*file)->FindTensor("b");
  ASSERT_NE(b, nullptr);
  auto data = (*file)->TensorData(*b);
  ASSERT_EQ(data.size(), 34u);
  EXPECT_EQ(data[0], 0x22);
  EXPECT_EQ(data[33], 0x22);
}

}  // namespace
}  // namespace ovid::gguf
