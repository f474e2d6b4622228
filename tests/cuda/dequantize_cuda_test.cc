// File: tests/cuda/dequantize_cuda_test.cc
// The CUDA dequantization kernels against the CPU reference, bit for bit: every type, every
// output format, whole tensors (shapes that cross the 8192-output tile and end mid-tile) and
// selected rows (including ids out of range, which give zeros). NaN outputs (from Inf scales)
// must be NaN on both sides; their payload bits may differ (GPU canonical NaN).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cuda/dequantize.cuh"
#include "tests/cuda/cuda_test_util.h"

namespace ovid {
namespace {

using testing::DeviceBuffer;
using testing::RandomBlocks;

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0,
                               GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0,
                               GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                               GgmlType::kQ6_K};
constexpr FloatFormat kFormats[] = {FloatFormat::kF32, FloatFormat::kF16, FloatFormat::kBF16};

bool IsNan(const uint8_t* p, FloatFormat f) {
  if (f == FloatFormat::kF32) {
    uint32_t u;
    memcpy(&u, p, 4);
    return (u & 0x7fffffffu) > 0x7f800000u;
  }
  uint16_t h;
  memcpy(&h, p, 2);
  if (f == FloatFormat::kF16) return (h & 0x7fffu) > 0x7c00u;
  return (h & 0x7fffu) > 0x7f80u;
}

// Element-wise bit equality, NaN matching NaN. Reports the first few mismatches.
void ExpectSame(const std::vector<uint8_t>& want, const std::vector<uint8_t>& got, FloatFormat f,
                const std::string& what) {
  ASSERT_EQ(want.size(), got.size());
  const int size = FloatFormatBytes(f);
  int bad = 0;
  for (size_t i = 0; i < want.size(); i += size) {
    if (memcmp(&want[i], &got[i], size) == 0) continue;
    if (IsNan(&want[i], f) && IsNan(&got[i], f)) continue;
    if (++bad <= 5) ADD_FAILURE() << what << ": element " << i / size << " differs";
  }
  EXPECT_EQ(bad, 0) << what;
}

// Dequantizes src ([rows, cols] of `type`) on the GPU with both store kinds (streaming, and
// plain for an output read next) and expects the CPU reference's values bit for bit.
void ExpectWholeTensorMatchesCpu(GgmlType type, const std::vector<uint8_t>& src, FloatFormat fmt,
                                 int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  std::vector<uint8_t> want(static_cast<size_t>(n * FloatFormatBytes(fmt)));
  ASSERT_TRUE(DequantizeRow(type, src.data(), want.data(), fmt, n));
  DeviceBuffer dsrc(src.size()), ddst(want.size());
  dsrc.Upload(src.data(), src.size());
  for (DequantCaching caching : {DequantCaching::kStream, DequantCaching::kKeepInL2}) {
    ddst.Fill(0xFF);  // poison: an unwritten element would be NaN, failing the comparison
    ASSERT_EQ(DequantizeCuda(type, dsrc.get(), ddst.get(), fmt, rows, cols, nullptr, caching),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<uint8_t> got(want.size());
    ddst.Download(got.data(), got.size());
    ExpectSame(want, got, fmt,
               std::string(GgmlTypeName(type)) + "->" + FloatFormatName(fmt) + " " +
                   std::to_string(rows) + "x" + std::to_string(cols) +
                   (caching == DequantCaching::kStream ? " streamed" : " kept in L2"));
  }
}

class DequantizeCudaTest : public ::testing::TestWithParam<std::tuple<GgmlType, FloatFormat>> {};

TEST_P(DequantizeCudaTest, WholeTensorMatchesCpu) {
  OVID_REQUIRE_GPU();
  const auto [type, fmt] = GetParam();
  const int64_t bs = GgmlInfo(type).block_size;
  std::mt19937 rng(1234 + static_cast<int>(type) * 7 + static_cast<int>(fmt));
  // (rows, row elements): one block; a row that ends mid-tile; 8448 = 33 * 256 crosses the
  // 8192-output tile; a [3072, 3072]-like slab; float types also get rows of odd length.
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, bs}, {3, bs * 7}, {5, 8448}, {4, 3072}, {2, 8192 * 2 + 256 * 3}};
  if (bs == 1) shapes.push_back({3, 37});
  for (const auto& [rows, cols] : shapes) {
    const std::vector<uint8_t> src =
        RandomBlocks(type, rows * cols / bs, rng, 2.0f, /*specials=*/true);
    ASSERT_NO_FATAL_FAILURE(ExpectWholeTensorMatchesCpu(type, src, fmt, rows, cols));
  }
}

// Large whole tensors take the per-warp kernel (at least two chunks per resident warp: 67M
// outputs are enough for any card up to 264 SMs). Every quantized type: chunks copied in 16-byte
// pieces (most) and in 8-byte pieces (Q6_K's 840-byte and Q3_K's 440-byte chunks); 16- and 32-bit
// outputs for Ovi's types, bf16 for the rest; both store kinds; every warp's ring wraps around
// many times.
TEST(DequantizeCudaWholeTensor, PerWarpKernelMatchesCpu) {
  OVID_REQUIRE_GPU();
  const int64_t rows = 8192, cols = 8192, n = rows * cols;
  for (GgmlType type :
       {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0, GgmlType::kQ3_K, GgmlType::kQ2_K,
        GgmlType::kQ5_K, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    std::mt19937 rng(4321 + static_cast<int>(type));
    const int64_t bs = GgmlInfo(type).block_size;
    const std::vector<uint8_t> src = RandomBlocks(type, n / bs, rng, 2.0f, /*specials=*/true);
    const bool ovi = type == GgmlType::kQ4_K || type == GgmlType::kQ6_K || type == GgmlType::kQ8_0;
    for (FloatFormat fmt : {FloatFormat::kBF16, FloatFormat::kF32}) {
      if (fmt == FloatFormat::kF32 && !ovi) continue;
      ASSERT_NO_FATAL_FAILURE(ExpectWholeTensorMatchesCpu(type, src, fmt, rows, cols));
    }
  }
}

TEST_P(DequantizeCudaTest, SelectedRowsMatchCpu) {
  OVID_REQUIRE_GPU();
  const auto [type, fmt] = GetParam();
  const int64_t bs = GgmlInfo(type).block_size;
  const int64_t rows = 11, cols = bs == 256 ? 256 * 13 : bs * 96 * 3;  // odd block counts
  std::mt19937 rng(99 + static_cast<int>(type));
  const std::vector<uint8_t> src = RandomBlocks(type, rows * cols / bs, rng, 1.0f, false);
  const std::vector<int64_t> ids = {3, 0, 10, 3, -1, 11, 7};  // -1 and 11 are out of range
  const int64_t row_out = cols * FloatFormatBytes(fmt);
  std::vector<uint8_t> want(ids.size() * row_out, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= rows) continue;  // zeros
    ASSERT_TRUE(DequantizeRow(type, src.data() + ids[i] * GgmlRowBytes(type, cols),
                              want.data() + i * row_out, fmt, cols));
  }
  DeviceBuffer dsrc(src.size()), dids(ids.size() * 8), ddst(want.size());
  dsrc.Upload(src.data(), src.size());
  dids.Upload(ids.data(), ids.size() * 8);
  ddst.Fill(0xFF);
  ASSERT_EQ(DequantizeRowsCuda(type, dsrc.get(), rows, cols, static_cast<int64_t*>(dids.get()),
                               static_cast<int64_t>(ids.size()), ddst.get(), fmt, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint8_t> got(want.size());
  ddst.Download(got.data(), got.size());
  ExpectSame(want, got, fmt, std::string(GgmlTypeName(type)) + " rows");
}

// Rows whose byte size is not a multiple of 16 and a source that is only 2-byte aligned take
// the synchronous staging path instead of cp.async.
TEST_P(DequantizeCudaTest, UnalignedSourcesMatchCpu) {
  OVID_REQUIRE_GPU();
  const auto [type, fmt] = GetParam();
  const int64_t bs = GgmlInfo(type).block_size;
  const int64_t rows = 5, cols = bs == 1 ? 96 + 6 : bs * 3;
  std::mt19937 rng(555 + static_cast<int>(type));
  const std::vector<uint8_t> src = RandomBlocks(type, rows * cols / bs, rng, 1.0f, false);
  std::vector<uint8_t> want(static_cast<size_t>(rows * cols * FloatFormatBytes(fmt)));
  ASSERT_TRUE(DequantizeRow(type, src.data(), want.data(), fmt, rows * cols));
  DeviceBuffer dsrc(src.size() + 16), ddst(want.size());
  auto* shifted = static_cast<uint8_t*>(dsrc.get()) + 2;
  cudaMemcpy(shifted, src.data(), src.size(), cudaMemcpyHostToDevice);
  ddst.Fill(0xFF);
  ASSERT_EQ(DequantizeCuda(type, shifted, ddst.get(), fmt, rows, cols, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint8_t> got(want.size());
  ddst.Download(got.data(), got.size());
  ExpectSame(want, got, fmt, std::string(GgmlTypeName(type)) + " src+2");

  // Selected rows of the aligned copy: each row is 3 blocks, so most rows start unaligned.
  DeviceBuffer aligned(src.size()), dids(3 * 8), drows(3 * cols * FloatFormatBytes(fmt));
  aligned.Upload(src.data(), src.size());
  const std::vector<int64_t> ids = {4, 1, 3};
  dids.Upload(ids.data(), ids.size() * 8);
  drows.Fill(0xFF);
  ASSERT_EQ(DequantizeRowsCuda(type, aligned.get(), rows, cols, static_cast<int64_t*>(dids.get()),
                               3, drows.get(), fmt, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint8_t> got_rows(3 * cols * FloatFormatBytes(fmt));
  drows.Download(got_rows.data(), got_rows.size());
  const int64_t row_out = cols * FloatFormatBytes(fmt);
  std::vector<uint8_t> want_rows(got_rows.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    memcpy(&want_rows[i * row_out], &want[ids[i] * row_out], row_out);
  }
  ExpectSame(want_rows, got_rows, fmt, std::string(GgmlTypeName(type)) + " rows of 3 blocks");
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeCudaTest,
                         ::testing::Combine(::testing::ValuesIn(kTypes),
                                            ::testing::ValuesIn(kFormats)),
                         [](const ::testing::TestParamInfo<DequantizeCudaTest::ParamType>& info) {
                           return std::string(GgmlTypeName(std::get<0>(info.param))) + "_" +
                                  FloatFormatName(std::get<1>(info.param));
                         });

// Argument errors are reported before anything is launched, so these need no GPU.
TEST(DequantizeCudaErrors, UnsupportedTypeIsAnError) {
  EXPECT_FALSE(DequantizeCudaSupports(GgmlType::kIQ2_XXS));
  EXPECT_FALSE(DequantizeCudaSupports(GgmlType::kQ8_K));
  EXPECT_TRUE(DequantizeCudaSupports(GgmlType::kQ6_K));
  alignas(16) static uint8_t buf[1024];
  EXPECT_EQ(DequantizeCuda(GgmlType::kIQ2_XXS, buf, buf, FloatFormat::kBF16, 1, 256, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(DequantizeCuda(static_cast<GgmlType>(4), buf, buf, FloatFormat::kBF16, 1, 256, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(
      DequantizeCuda(static_cast<GgmlType>(999), buf, buf, FloatFormat::kBF16, 1, 256, nullptr),
      cudaErrorInvalidValue);
}

TEST(DequantizeCudaErrors, BadShapesAndPointers) {
  alignas(16) static uint8_t buf[1024];
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, buf, buf, FloatFormat::kBF16, 1, 100, nullptr),
            cudaErrorInvalidValue);  // not whole blocks
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, buf, buf, FloatFormat::kBF16, -1, 256, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, nullptr, buf, FloatFormat::kBF16, 1, 256, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, buf, buf + 2, FloatFormat::kBF16, 1, 256, nullptr),
            cudaErrorMisalignedAddress);
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, buf, buf, static_cast<FloatFormat>(7), 1, 256, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(
      DequantizeRowsCuda(GgmlType::kQ4_K, buf, 1, 256, nullptr, 3, buf, FloatFormat::kF32, nullptr),
      cudaErrorInvalidValue);
  // Ids into an empty source still write their (zero) rows: a null output is refused, not
  // written through.
  alignas(16) static int64_t ids[3] = {0, 1, 2};
  EXPECT_EQ(
      DequantizeRowsCuda(GgmlType::kQ4_K, buf, 0, 256, ids, 3, nullptr, FloatFormat::kF32, nullptr),
      cudaErrorInvalidValue);
  // Empty work is a successful no-op.
  EXPECT_EQ(DequantizeCuda(GgmlType::kQ4_K, buf, buf, FloatFormat::kBF16, 0, 256, nullptr),
            cudaSuccess);
}

}  // namespace
}  // namespace ovid
