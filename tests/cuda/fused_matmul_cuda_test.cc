// File: tests/cuda/fused_matmul_cuda_test.cc
// The fused quantized matmul against dequantize (CPU reference, fp32) + a float64 matmul.
//
// Tolerance: the kernel rounds each weight to bf16 (relative error <= 2^-9) before the tensor
// cores multiply it with the bf16 activations exactly and sum in fp32 (error ~K * 2^-24 of the
// magnitude sum, negligible), then rounds the sum to bf16 (<= 2^-9 relative). So for each
// element |got - ref| <= 2^-9 * sum_k |x_k * w_k| + 2^-9 * |ref|, and we allow twice that.
// A relative Frobenius error under 1e-2 is checked too, as the whole-matrix sanity bound.
// Both kernels are covered: the portable one (FusedMatmulTiled) and the Hopper panel kernel
// (FusedPanelMatmul with forced token tiles and K splits, and FusedMatmul's own choice).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/fused_matmul.cuh"
#include "kernels/cuda/fused_matmul_panel.cuh"
#include "kernels/cuda/kernel_image.cuh"
#include "kernels/fp16.h"
#include "tests/cuda/cuda_test_util.h"

namespace ovid {
namespace {

using testing::DeviceBuffer;

constexpr GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                               GgmlType::kQ8_0, GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                               GgmlType::kQ5_K, GgmlType::kQ6_K};
constexpr int kTokens[] = {1, 7, 157, 314, 512, 628};

// Which entry point a case runs.
enum class Path { kPortable, kPanel, kAuto };

// splits is used by the panel path only (0 = the launcher's choice).
void RunCase(GgmlType type, int m, int n, int k, bool with_bias, uint32_t seed, int token_tile = 0,
             Path path = Path::kPortable, int splits = 0) {
  SCOPED_TRACE(std::string(GgmlTypeName(type)) + " M=" + std::to_string(m) +
               " N=" + std::to_string(n) + " K=" + std::to_string(k) + (with_bias ? " bias" : "") +
               " path=" + std::to_string(static_cast<int>(path)) +
               " tile=" + std::to_string(token_tile) + " splits=" + std::to_string(splits));
  std::mt19937 rng(seed);
  const int64_t bs = GgmlInfo(type).block_size;
  const std::vector<uint8_t> w =
      testing::RandomBlocks(type, int64_t{n} * k / bs, rng, 0.02f, false);
  const std::vector<uint16_t> x = testing::RandomBf16(int64_t{m} * k, rng);
  const std::vector<uint16_t> bias = testing::RandomBf16(n, rng);
  std::vector<float> wf(static_cast<size_t>(int64_t{n} * k));
  ASSERT_TRUE(DequantizeRow(type, w.data(), wf.data(), FloatFormat::kF32, int64_t{n} * k));

  DeviceBuffer dw(w.size()), dx(x.size() * 2), dy(size_t{2} * m * n), db(bias.size() * 2);
  dw.Upload(w.data(), w.size());
  dx.Upload(x.data(), x.size() * 2);
  db.Upload(bias.data(), bias.size() * 2);
  dy.Fill(0xFF);  // NaN poison: every element must be written
  const void* b = with_bias ? db.get() : nullptr;
  cudaError_t err = cudaErrorUnknown;
  switch (path) {
    case Path::kPortable:
      err = FusedMatmulTiled(type, dw.get(), dx.get(), dy.get(), m, n, k, b, token_tile, nullptr);
      break;
    case Path::kPanel:
      err = FusedPanelMatmul(type, dw.get(), dx.get(), dy.get(), m, n, k, b, token_tile, splits,
                             nullptr);
      break;
    case Path::kAuto:
      err = FusedMatmul(type, dw.get(), dx.get(), dy.get(), m, n, k, b, nullptr);
      break;
  }
  ASSERT_EQ(err, cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint16_t> y(size_t{1} * m * n);
  dy.Download(y.data(), y.size() * 2);

  double err2 = 0, ref2 = 0;
  int bad = 0;
  std::vector<float> xf(k);
  for (int i = 0; i < m; ++i) {
    for (int kk = 0; kk < k; ++kk) xf[kk] = Bf16ToFloat(x[size_t{1} * i * k + kk]);
    for (int j = 0; j < n; ++j) {
      const float* wr = &wf[size_t{1} * j * k];
      double ref = with_bias ? Bf16ToFloat(bias[j]) : 0.0, mag = std::fabs(ref);
      for (int kk = 0; kk < k; ++kk) {
        const double p = double{xf[kk]} * wr[kk];
        ref += p;
        mag += std::fabs(p);
      }
      const double got = Bf16ToFloat(y[size_t{1} * i * n + j]);
      const double tol = 2.0 * (std::ldexp(mag, -9) + std::ldexp(std::fabs(ref), -9)) + 1e-30;
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5) {
        ADD_FAILURE() << "Y[" << i << "," << j << "] = " << got << ", want " << ref << " (tol "
                      << tol << ")";
      }
      err2 += (got - ref) * (got - ref);
      ref2 += ref * ref;
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_LT(std::sqrt(err2 / (ref2 + 1e-300)), 1e-2);
}

class FusedMatmulTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(FusedMatmulTest, MatchesDequantizeThenMatmul) {
  OVID_REQUIRE_GPU();
  const GgmlType type = GetParam();
  const int bs = static_cast<int>(GgmlInfo(type).block_size);
  // N = 200: not a multiple of the 64-row tile. K = 3 super-blocks (768) for K-quants; 13
  // blocks (416) for the 32-element types, which is not a multiple of the 256-element stage.
  const int k = bs == 256 ? 768 : 416;
  uint32_t seed = 7;
  for (const int m : kTokens) RunCase(type, m, 200, k, /*with_bias=*/m % 2 == 1, seed++);
}

TEST_P(FusedMatmulTest, OddNAndLongK) {
  OVID_REQUIRE_GPU();
  RunCase(GetParam(), 33, 67, 3072, /*with_bias=*/true, 41);  // odd N: scalar stores
}

// Wide N makes the launcher pick 128-token tiles on a 132-SM card (fewer, fuller waves); N is
// not a multiple of the 64-row tile either.
TEST_P(FusedMatmulTest, WideNBigTiles) {
  OVID_REQUIRE_GPU();
  RunCase(GetParam(), 157, 3000, 256, /*with_bias=*/true, 77);
}

// Both token tiles on every type, whatever the launcher would pick on this card.
TEST_P(FusedMatmulTest, ForcedTokenTiles) {
  OVID_REQUIRE_GPU();
  for (const int tile : {64, 128})
    RunCase(GetParam(), 200, 136, 512, /*with_bias=*/false, 91, tile);
}

INSTANTIATE_TEST_SUITE_P(Types, FusedMatmulTest, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(GgmlTypeName(info.param));
                         });

// The Hopper panel kernel (skipped where FusedPanelSupports is false: no GPU, or not sm_90).
constexpr GgmlType kPanelTypes[] = {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
                                    GgmlType::kQ8_0};

class FusedPanelTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override {
    OVID_REQUIRE_GPU();
    if (!FusedPanelSupports(GetParam(), 256)) GTEST_SKIP() << "panel kernel needs sm_90";
  }
};

// The launcher's own tile and split choices at Ovi's token counts and odd ones; N = 200 is
// not a multiple of the 128-row tile, K = 768 is 12 stages (Q6_K rows are 630 bytes: units
// start at every 2-byte offset).
TEST_P(FusedPanelTest, LauncherChoice) {
  uint32_t seed = 101;
  for (const int m : {1, 33, 157, 314}) {
    RunCase(GetParam(), m, 200, 768, /*with_bias=*/m % 2 == 1, seed++, 0, Path::kPanel);
  }
}

// Every token tile with 1, 3 (uneven: 1-1-2 pairs of stages) and 8 splits (clamped to the 4
// pairs of K = 512: one pair each, so half the blocks start in the middle of a 256-element unit).
TEST_P(FusedPanelTest, ForcedTilesAndSplits) {
  uint32_t seed = 201;
  for (const int tile : {64, 128, 160}) {
    for (const int splits : {1, 3, 8}) {
      RunCase(GetParam(), 200, 136, 512, /*with_bias=*/splits == 3, seed++, tile, Path::kPanel,
              splits);
    }
  }
}

// Long K with the launcher's split, odd N (scalar stores), and FusedMatmul's dispatch.
TEST_P(FusedPanelTest, LongKOddNAndDispatch) {
  RunCase(GetParam(), 157, 67, 3072, /*with_bias=*/true, 301, 0, Path::kPanel);
  RunCase(GetParam(), 628, 130, 1024, /*with_bias=*/false, 302, 0, Path::kAuto);
  RunCase(GetParam(), 7, 3000, 256, /*with_bias=*/true, 303, 0, Path::kAuto);
}

// K = 2048 (8 units a row): Q4_K/Q5_K/Q8_0 units arrive by TMA, Q6_K's (1680-byte rows) by
// cp.async; a 3-way split of the 16 stage pairs starts blocks in the middle of a unit.
TEST_P(FusedPanelTest, RowsOfWholeWords) {
  RunCase(GetParam(), 157, 136, 2048, /*with_bias=*/true, 401, 0, Path::kPanel);
  RunCase(GetParam(), 60, 200, 2048, /*with_bias=*/false, 402, 64, Path::kPanel, 3);
}

// The panel kernel is launched with programmatic dependent launch: its blocks start while the
// previous kernel finishes and wait for it before they read the activations or write the
// output. Chained on one stream, eight times: a plain kernel (a dequantization) rewrites x with
// new values, a fused matmul reads it (y1 = W1 x), and a second fused matmul reads the first's
// output (y2 = W2 y1). Every output must equal the same launches run one at a time with a
// synchronisation after each; an early read would see another round's x or y1.
TEST_P(FusedPanelTest, ChainedLaunchesSeeTheirInputs) {
  const GgmlType type = GetParam();
  const int m = 157, k = 3072, n1 = 512, n2 = 256, rounds = 8;
  std::mt19937 rng(501);
  const int64_t q8 = GgmlInfo(GgmlType::kQ8_0).block_size;
  const int64_t bs = GgmlInfo(type).block_size;
  const std::vector<uint8_t> xq =
      testing::RandomBlocks(GgmlType::kQ8_0, int64_t{rounds} * m * k / q8, rng, 0.02f, false);
  const std::vector<uint8_t> w1 =
      testing::RandomBlocks(type, int64_t{n1} * k / bs, rng, 0.02f, false);
  const std::vector<uint8_t> w2 =
      testing::RandomBlocks(type, int64_t{n2} * n1 / bs, rng, 0.02f, false);
  DeviceBuffer dxq(xq.size()), dw1(w1.size()), dw2(w2.size()), dx(size_t{2} * m * k);
  dxq.Upload(xq.data(), xq.size());
  dw1.Upload(w1.data(), w1.size());
  dw2.Upload(w2.data(), w2.size());
  const size_t round_bytes = xq.size() / rounds;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  auto run = [&](DeviceBuffer& y1, DeviceBuffer& y2, bool sync_each) {
    for (int r = 0; r < rounds; ++r) {
      const uint8_t* src = static_cast<const uint8_t*>(dxq.get()) + r * round_bytes;
      ASSERT_EQ(DequantizeCuda(GgmlType::kQ8_0, src, dx.get(), FloatFormat::kBF16, m, k, stream),
                cudaSuccess);
      if (sync_each) {
        ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      }
      void* y1r = static_cast<uint8_t*>(y1.get()) + size_t{2} * r * m * n1;
      void* y2r = static_cast<uint8_t*>(y2.get()) + size_t{2} * r * m * n2;
      ASSERT_EQ(FusedPanelMatmul(type, dw1.get(), dx.get(), y1r, m, n1, k, nullptr, 0, 0, stream),
                cudaSuccess);
      if (sync_each) {
        ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      }
      ASSERT_EQ(FusedPanelMatmul(type, dw2.get(), y1r, y2r, m, n2, n1, nullptr, 0, 0, stream),
                cudaSuccess);
      if (sync_each) {
        ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      }
    }
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  };
  DeviceBuffer y1(size_t{2} * rounds * m * n1), y2(size_t{2} * rounds * m * n2);
  DeviceBuffer y1_ref(size_t{2} * rounds * m * n1), y2_ref(size_t{2} * rounds * m * n2);
  ASSERT_NO_FATAL_FAILURE(run(y1_ref, y2_ref, /*sync_each=*/true));
  ASSERT_NO_FATAL_FAILURE(run(y1, y2, /*sync_each=*/false));
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  for (const auto& [got_buf, want_buf, count] :
       {std::tuple{&y1, &y1_ref, size_t{1} * rounds * m * n1},
        std::tuple{&y2, &y2_ref, size_t{1} * rounds * m * n2}}) {
    std::vector<uint16_t> got(count), want(count);
    got_buf->Download(got.data(), count * 2);
    want_buf->Download(want.data(), count * 2);
    size_t differ = 0;
    for (size_t i = 0; i < count; ++i) differ += got[i] != want[i];
    EXPECT_EQ(differ, 0u) << "of " << count << " outputs";
  }
}

TEST_P(FusedPanelTest, BadChoices) {
  alignas(16) static uint8_t buf[4096];
  EXPECT_EQ(FusedPanelMatmul(GetParam(), buf, buf, buf, 1, 1, 256, nullptr, 96, 0, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedPanelMatmul(GetParam(), buf, buf, buf, 1, 1, 256, nullptr, 0, 9, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedPanelMatmul(GetParam(), buf, buf, buf, 1, 1, 128, nullptr, 0, 0, nullptr),
            cudaErrorInvalidValue);  // K not whole 256-element units
  EXPECT_FALSE(FusedPanelSupports(GgmlType::kQ4_0, 256));
}

INSTANTIATE_TEST_SUITE_P(Types, FusedPanelTest, ::testing::ValuesIn(kPanelTypes),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(GgmlTypeName(info.param));
                         });

// Argument errors are reported before anything is launched, so these need no GPU.
// Opt-in shared memory per block: H100/H200 (sm_90), A100 (sm_80), sm_86/sm_89 cards.
constexpr int kHopperSmem = 232448, kA100Smem = 166912, kAdaSmem = 101376;

TEST(FusedMatmulSupport, FollowsTheDevicesSharedMemory) {
  const GgmlType fused[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                            GgmlType::kQ8_0, GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                            GgmlType::kQ5_K, GgmlType::kQ6_K};
  for (GgmlType t : fused) {
    EXPECT_TRUE(FusedMatmulSupportsWithin(t, kHopperSmem)) << GgmlInfo(t).name;
    // The portable kernel needs 181-227 KB: an A100 or an Ada card must dequantize and GEMM
    // instead of trying a launch that cannot start.
    EXPECT_FALSE(FusedMatmulSupportsWithin(t, kA100Smem)) << GgmlInfo(t).name;
    EXPECT_FALSE(FusedMatmulSupportsWithin(t, kAdaSmem)) << GgmlInfo(t).name;
  }
  int device = 0, optin = 0;
  const bool have = cudaGetDevice(&device) == cudaSuccess &&
                    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                           device) == cudaSuccess;
  cudaGetLastError();
  for (GgmlType t : fused) {
    EXPECT_EQ(FusedMatmulSupports(t), have && FusedMatmulSupportsWithin(t, optin))
        << GgmlInfo(t).name;
  }
}

// The test card is one this build has code for (OVID_CUDA_ARCHS), and the panel kernel, whose
// body exists only for sm_90a, is offered on a Hopper only when that code was built.
TEST(CudaKernelImage, ThisBuildRunsOnTheTestCard) {
  OVID_REQUIRE_GPU();
  EXPECT_EQ(CudaKernelsRunHere(), cudaSuccess);
  int device = 0, major = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), cudaSuccess);
#ifdef OVID_CUDA_HAS_SM90A
  EXPECT_EQ(FusedPanelSupports(GgmlType::kQ4_K, 3072), major == 9);
#else
  EXPECT_FALSE(FusedPanelSupports(GgmlType::kQ4_K, 3072));
#endif
}

TEST(FusedMatmulErrors, UnsupportedTypesAndBadArguments) {
  EXPECT_TRUE(FusedMatmulSupportsWithin(GgmlType::kQ4_K, kHopperSmem));
  EXPECT_TRUE(FusedMatmulSupportsWithin(GgmlType::kQ8_0, kHopperSmem));
  EXPECT_FALSE(FusedMatmulSupportsWithin(GgmlType::kF32, kHopperSmem));
  EXPECT_FALSE(FusedMatmulSupportsWithin(GgmlType::kBF16, kHopperSmem));
  EXPECT_FALSE(FusedMatmulSupportsWithin(GgmlType::kIQ4_XS, kHopperSmem));
  EXPECT_FALSE(FusedMatmulSupports(GgmlType::kIQ4_XS));
  alignas(16) static uint8_t buf[4096];
  EXPECT_EQ(FusedMatmul(GgmlType::kIQ4_XS, buf, buf, buf, 1, 1, 256, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedMatmul(static_cast<GgmlType>(31), buf, buf, buf, 1, 1, 256, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedMatmul(GgmlType::kQ4_K, buf, buf, buf, 1, 1, 128, nullptr, nullptr),
            cudaErrorInvalidValue);  // K not whole super-blocks
  EXPECT_EQ(FusedMatmul(GgmlType::kQ4_K, buf, buf, buf, -1, 1, 256, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedMatmul(GgmlType::kQ4_K, nullptr, buf, buf, 1, 1, 256, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(FusedMatmul(GgmlType::kQ4_K, buf + 2, buf, buf, 1, 1, 256, nullptr, nullptr),
            cudaErrorMisalignedAddress);
  EXPECT_EQ(FusedMatmulTiled(GgmlType::kQ4_K, buf, buf, buf, 1, 1, 256, nullptr, 96, nullptr),
            cudaErrorInvalidValue);  // no such token tile
  EXPECT_EQ(FusedMatmul(GgmlType::kQ4_K, buf, buf, buf, 0, 64, 256, nullptr, nullptr),
            cudaSuccess);  // no tokens: nothing to do
}

}  // namespace
}  // namespace ovid
