// File: tests/kernels/ggml_types_test.cc
// The ggml type table against shared spec ggml.md §2, and its behaviour on bad ids.
#include "kernels/ggml_types.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "kernels/blocks.h"

namespace ovid {
namespace {

struct Row {
  uint32_t id;
  const char* name;
  int64_t block_size;
  int64_t type_size;
};

// Transcribed from spec ggml.md §2, one row per live id.
constexpr Row kSpec[] = {
    {0, "f32", 1, 4},         {1, "f16", 1, 2},         {2, "q4_0", 32, 18},
    {3, "q4_1", 32, 20},      {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},
    {8, "q8_0", 32, 34},      {9, "q8_1", 32, 36},      {10, "q2_K", 256, 84},
    {11, "q3_K", 256, 110},   {12, "q4_K", 256, 144},   {13, "q5_K", 256, 176},
    {14, "q6_K", 256, 210},   {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66},
    {17, "iq2_xs", 256, 74},  {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},
    {20, "iq4_nl", 32, 18},   {21, "iq3_s", 256, 110},  {22, "iq2_s", 256, 82},
    {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},         {25, "i16", 1, 2},
    {26, "i32", 1, 4},        {27, "i64", 1, 8},        {28, "f64", 1, 8},
    {29, "iq1_m", 256, 56},   {30, "bf16", 1, 2},       {34, "tq1_0", 256, 54},
    {35, "tq2_0", 256, 66},   {39, "mxfp4", 32, 17},    {40, "nvfp4", 64, 36},
    {41, "q1_0", 128, 18},    {42, "q2_0", 64, 18},
};

TEST(GgmlTypesTest, EveryLiveIdMatchesTheSpecTable) {
  for (const Row& row : kSpec) {
    const GgmlTypeInfo* info = GgmlTypeInfoFor(row.id);
    ASSERT_NE(info, nullptr) << row.id;
    EXPECT_STREQ(info->name, row.name) << row.id;
    EXPECT_EQ(info->block_size, row.block_size) << row.name;
    EXPECT_EQ(info->type_size, row.type_size) << row.name;
    EXPECT_EQ(info->quantized, row.block_size > 1) << row.name;
    EXPECT_TRUE(GgmlTypeIsValid(row.id)) << row.name;
    EXPECT_EQ(GgmlTypeFromName(row.name), static_cast<GgmlType>(row.id)) << row.name;
  }
}

TEST(GgmlTypesTest, RemovedAndOutOfRangeIdsAreInvalid) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u}) {
    ASSERT_NE(GgmlTypeInfoFor(id), nullptr);
    EXPECT_EQ(GgmlTypeInfoFor(id)->block_size, 0) << id;
    EXPECT_FALSE(GgmlTypeIsValid(id)) << id;
    EXPECT_EQ(GgmlRowBytes(static_cast<GgmlType>(id), 256), -1) << id;
  }
  EXPECT_EQ(GgmlTypeInfoFor(kGgmlTypeCount), nullptr);
  EXPECT_FALSE(GgmlTypeIsValid(1000));
  const GgmlTypeInfo& unknown = GgmlInfo(static_cast<GgmlType>(1000));
  EXPECT_EQ(unknown.block_size, 0);
  EXPECT_FALSE(unknown.dequantizable);
  EXPECT_EQ(GgmlRowBytes(static_cast<GgmlType>(1000), 256), -1);
}

TEST(GgmlTypesTest, NamesParseCaseInsensitivelyAndRejectUnknowns) {
  EXPECT_EQ(GgmlTypeFromName("Q4_K"), GgmlType::kQ4_K);
  EXPECT_EQ(GgmlTypeFromName("BF16"), GgmlType::kBF16);
  EXPECT_EQ(GgmlTypeFromName("q4_k"), GgmlType::kQ4_K);
  EXPECT_FALSE(GgmlTypeFromName("q4_2").has_value());
  EXPECT_FALSE(GgmlTypeFromName("(removed)").has_value());
  EXPECT_FALSE(GgmlTypeFromName("").has_value());
}

TEST(GgmlTypesTest, CapabilitiesAndBlockStructsAgree) {
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ4_K, 4096), 16 * 144);
  int dequantizable = 0;
  for (uint32_t id = 0; id < kGgmlTypeCount; ++id)
    dequantizable += GgmlTypeInfoFor(id)->dequantizable;
  EXPECT_EQ(dequantizable, 13);  // F32 F16 BF16, five legacy, five K-quants
  EXPECT_EQ(GgmlInfo(GgmlType::kQ4_0).type_size, static_cast<int64_t>(sizeof(BlockQ4_0)));
  EXPECT_EQ(GgmlInfo(GgmlType::kQ3_K).type_size, static_cast<int64_t>(sizeof(BlockQ3_K)));
  EXPECT_EQ(GgmlInfo(GgmlType::kQ6_K).type_size, static_cast<int64_t>(sizeof(BlockQ6_K)));
  EXPECT_EQ(GgmlInfo(GgmlType::kQ8_K).type_size, static_cast<int64_t>(sizeof(BlockQ8_K)));
  EXPECT_FALSE(GgmlInfo(GgmlType::kQ8_1).dequantizable);
  EXPECT_FALSE(GgmlInfo(GgmlType::kIQ2_XXS).quantizable);
}

TEST(GgmlTypesTest, DataAlignmentCoversWhatTheDecodersLoad) {
  EXPECT_EQ(GgmlTypeDataAlignment(GgmlType::kF32), 4);
  EXPECT_EQ(GgmlTypeDataAlignment(GgmlType::kF16), 2);
  EXPECT_EQ(GgmlTypeDataAlignment(GgmlType::kBF16), 2);
  // Every block struct the CPU decoders read in place.
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ4_0), static_cast<int64_t>(alignof(BlockQ4_0)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ4_1), static_cast<int64_t>(alignof(BlockQ4_1)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ5_0), static_cast<int64_t>(alignof(BlockQ5_0)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ5_1), static_cast<int64_t>(alignof(BlockQ5_1)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ8_0), static_cast<int64_t>(alignof(BlockQ8_0)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ2_K), static_cast<int64_t>(alignof(BlockQ2_K)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ3_K), static_cast<int64_t>(alignof(BlockQ3_K)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ4_K), static_cast<int64_t>(alignof(BlockQ4_K)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ5_K), static_cast<int64_t>(alignof(BlockQ5_K)));
  EXPECT_GE(GgmlTypeDataAlignment(GgmlType::kQ6_K), static_cast<int64_t>(alignof(BlockQ6_K)));
  // Types ovid never reads put no demand on a file.
  EXPECT_EQ(GgmlTypeDataAlignment(GgmlType::kIQ2_XXS), 1);
  EXPECT_EQ(GgmlTypeDataAlignment(GgmlType::kQ8_1), 1);
}

}  // namespace
}  // namespace ovid
