// SafetensorsFile on crafted headers: valid files parse, corrupt ones fail with named errors.
#include "engine/gguf/safetensors_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/gguf/safetensors_stream_writer.h"

namespace ovid::gguf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kName[] = "model.safetensors";

std::vector<uint8_t> Build(const std::string& header, size_t data_bytes, uint8_t fill = 0x5A) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  out += header;
  out.append(data_bytes, static_cast<char>(fill));
  return std::vector<uint8_t>(out.begin(), out.end());
}

void ExpectError(const std::vector<uint8_t>& bytes, std::vector<std::string> fragments) {
  auto file = SafetensorsFile::FromBuffer(kName, bytes);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
  EXPECT_THAT(file.status().message(), HasSubstr(kName));
  for (const auto& f : fragments) EXPECT_THAT(file.status().message(), HasSubstr(f));
}

TEST(SafetensorsFileTest, ValidFileParses) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],)"
      R"("data_offsets":[16,28]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
      R"("e":{"dtype":"I64","shape":[0,5],"data_offsets":[28,28]}})";
  std::vector<uint8_t> bytes = Build(header, 28);
  auto file = SafetensorsFile::FromBuffer(kName, bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsFile& f = **file;
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "b");  // header order
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const SafetensorsTensor* b = f.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, StDtype::kBF16);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->n_elements, 6);
  auto data = f.Data(*b);
  EXPECT_EQ(data.size(), 12u);
  EXPECT_EQ(data.data(), bytes.data() + 8 + header.size() + 16);
  EXPECT_EQ(f.Find("e")->n_elements, 0);
  EXPECT_EQ(f.Find("missing"), nullptr);
  EXPECT_STREQ(StDtypeName(StDtype::kF8E4M3), "F8_E4M3");
  EXPECT_EQ(StDtypeBytes(StDtype::kF64), 8);
}

TEST(SafetensorsFileTest, TooShortForHeaderLength) {
  ExpectError({1, 2, 3}, {"3 bytes, too short"});
}

TEST(SafetensorsFileTest, HeaderLengthPastEof) {
  std::vector<uint8_t> bytes = Build("{}", 0);
  const uint64_t n = 1000;
  std::memcpy(bytes.data(), &n, 8);
  ExpectError(bytes, {"header length 1000", "past the end of the file (size 10)"});
}

TEST(SafetensorsFileTest, HugeHeaderLength) {
  std::vector<uint8_t> bytes = Build("{}", 0);
  const uint64_t n = ~uint64_t{0};
  std::memcpy(bytes.data(), &n, 8);
  ExpectError(bytes, {"header length 18446744073709551615", "limit"});
}

TEST(SafetensorsFileTest, BadJson) {
  ExpectError(Build(R"({"a": {"dtype": "F32",)", 0), {"not valid JSON", "byte offset"});
}

TEST(SafetensorsFileTest, NumberOutOfRange) {
  // nlohmann reports this as out_of_range, not parse_error (a fuzzer find).
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[1.5E99999],"data_offsets":[0,4]}})", 4),
              {"not valid JSON", "number overflow"});
}

TEST(SafetensorsFileTest, HeaderNotAnObject) {
  ExpectError(Build("[1,2]", 0), {"not a JSON object"});
}

TEST(SafetensorsFileTest, NestingBombIsRefusedBeforeParsing) {
  const std::string bomb = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  ExpectError(Build(bomb, 0), {"nests deeper than 32 levels", "byte offset"});
  // Brackets inside strings do not count.
  const std::string quoted =
      R"({"__metadata__":{"k":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"["}})";
  auto file = SafetensorsFile::FromBuffer(kName, Build(quoted, 0));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("k").size(), 42u);
}

TEST(SafetensorsFileTest, UnknownDtype) {
  ExpectError(Build(R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1),
              {"tensor 'w'", "unknown dtype 'F4'"});
}

TEST(SafetensorsFileTest, MissingFields) {
  ExpectError(Build(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "dtype"});
  ExpectError(Build(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"tensor 'w'", "shape"});
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[2]}})", 8), {"tensor 'w'", "data_offsets"});
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
              {"tensor 'w'", "shape entry -2"});
}

TEST(SafetensorsFileTest, OffsetsOutOfRange) {
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
              {"tensor 'w'", "data_offsets [0, 16)", "8-byte data section"});
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
              {"tensor 'w'", "data_offsets [8, 4)"});
}

TEST(SafetensorsFileTest, OverlappingTensors) {
  ExpectError(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                    12),
              {"tensor 'b'", "overlaps tensor 'a'"});
}

// A name given twice: the JSON parser kept one silently, and readers differ in which.
TEST(SafetensorsFileTest, ATensorNamedTwiceIsRefused) {
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    8),
              {"header names 'w' twice"});
  // The same key inside two tensors' entries is no duplicate of the header's.
  auto file = SafetensorsFile::FromBuffer(
      kName, Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                   8));
  EXPECT_TRUE(file.ok()) << file.status();
}

TEST(SafetensorsFileTest, ShapeMismatch) {
  ExpectError(Build(R"({"w":{"dtype":"F16","shape":[3,2],"data_offsets":[0,8]}})", 8),
              {"tensor 'w'", "shape [3,2] of F16 needs 6 x 2 bytes but data_offsets span 8"});
}

TEST(SafetensorsFileTest, ShapeOverflow) {
  ExpectError(Build(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],)"
                    R"("data_offsets":[0,8]}})",
                    8),
              {"tensor 'w'", "overflows"});
}

TEST(SafetensorsFileTest, BadMetadata) {
  ExpectError(Build(R"({"__metadata__":{"k":1}})", 0), {"__metadata__ key 'k'"});
}

// Names and metadata come from other files as arbitrary bytes; JSON needs UTF-8, and the JSON
// library threw (ovid-gguf convert aborted) instead of returning an error.
TEST(SafetensorsHeaderTest, NonUtf8NamesAndMetadataAreRefused) {
  const SafetensorsPlan ok{"w", "F32", {1}, 4};
  ASSERT_TRUE(SafetensorsHeader({ok}, {{"ovid.source", "a.pth"}}).ok());
  const SafetensorsPlan bad{"blocks.0.\xff", "F32", {1}, 4};
  absl::StatusOr<std::string> h = SafetensorsHeader({ok, bad}, {});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(h.status().message()),
              ::testing::HasSubstr("tensor name 'blocks.0.\\xff' is not valid UTF-8"));
  h = SafetensorsHeader({ok}, {{"ovid.source", "a\xff.safetensors"}});
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), ::testing::HasSubstr("metadata 'ovid.source'"));
}

TEST(SafetensorsFileTest, OpenMissingFile) {
  auto file = SafetensorsFile::Open("/nonexistent/dir/x.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr("/nonexistent/dir/x.safetensors"), HasSubstr("No such file")));
}

}  // namespace
}  // namespace ovid::gguf
