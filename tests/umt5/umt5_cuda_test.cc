// Umt5Encoder's prompt cache across worker streams (CUDA; skipped without a device). Each worker
// runs on its own non-blocking stream, and a cached encoding is read by jobs on other streams:
//  - an entry must be complete when another stream reads it, however far the device lags the
//    host on the stream that made it;
//  - an entry evicted while another stream's reads are still queued must keep its memory until
//    they are done (the caching allocator would otherwise hand it to the next allocation on the
//    stream that made it).
// Both cases keep the device busy with matrix products so that the host runs far ahead of it:
// the first on a high-priority stream, which starves the encoder's kernels of SMs while the
// reader's copy (a copy engine's work) goes ahead; the second on the reader's own stream.
#include <ATen/ops/allclose.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/tanh.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/models/umt5/umt5_encoder.h"
#include "tests/engine/engine_test_util.h"
#include "tests/umt5/umt5_test_util.h"

namespace ovid::umt5 {
namespace {

const c10::Device kCuda(c10::kCUDA, 0);
const std::vector<int64_t> kPromptA = {37, 5, 311, 99, 2, 480, 1};
const std::vector<int64_t> kPromptB = {12, 400, 1};

std::unique_ptr<Umt5Encoder> TinyOnCuda(const std::string& name, size_t cache_entries) {
  Umt5EncoderOptions o;
  o.load.log = false;
  o.cache_entries = cache_entries;
  o.device = kCuda;
  absl::StatusOr<std::string> path =
      testing::WriteUmt5Gguf(name, testing::TinyUmt5Tensors(Umt5Layout::kGguf));
  EXPECT_TRUE(path.ok()) << path.status();
  if (!path.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Umt5Encoder>> enc = Umt5Encoder::Load(*path, o);
  std::remove(path->c_str());
  EXPECT_TRUE(enc.ok()) << enc.status();
  return enc.ok() ? *std::move(enc) : nullptr;
}

c10::Stream PoolStream(bool high_priority = false) {
  return c10::impl::VirtualGuardImpl(c10::kCUDA).getStreamFromGlobalPool(kCuda, high_priority);
}

// About a tenth of a second of fp32 products queued on `stream`.
void KeepBusy(c10::Stream stream) {
  const c10::StreamGuard on(stream);
  at::Tensor x = at::rand({4096, 4096}, at::TensorOptions().device(kCuda));
  for (int i = 0; i < 40; ++i) x = at::tanh(at::mm(x, x).mul_(1.0 / 64));
}

at::Tensor EncodeOne(const Umt5Encoder& enc, const std::vector<int64_t>& prompt) {
  absl::StatusOr<std::vector<at::Tensor>> out = enc.Encode({prompt});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : at::Tensor();
}

// The prompt's encoding on the host, from an encoder without a cache on the default stream.
at::Tensor Reference(const std::vector<int64_t>& prompt) {
  std::unique_ptr<Umt5Encoder> plain = TinyOnCuda("umt5-cuda-ref.gguf", 0);
  if (plain == nullptr) return at::Tensor();
  return EncodeOne(*plain, prompt).cpu();
}

// A scenario is repeated: the first round after start-up (cuBLAS and allocator set-up) may
// miss the window, so one round alone would not catch a regression every time.
constexpr int kRounds = 4;

TEST(Umt5EncoderCuda, ACachedEncodingIsCompleteBeforeAnotherStreamReadsIt) {
  if (!ovid::testing::HaveCuda()) GTEST_SKIP() << "no CUDA device";
  const at::Tensor want = Reference(kPromptA);
  ASSERT_TRUE(want.defined());
  const c10::Stream maker = PoolStream(), reader = PoolStream(), hog = PoolStream(true);
  ASSERT_NE(maker, reader);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    std::unique_ptr<Umt5Encoder> enc = TinyOnCuda("umt5-cuda-cache.gguf", 4);
    ASSERT_NE(enc, nullptr);
    KeepBusy(hog);
    {
      const c10::StreamGuard on(maker);
      ASSERT_TRUE(EncodeOne(*enc, kPromptA).defined());  // a miss, waiting for SMs
    }
    at::Tensor got;
    {
      const c10::StreamGuard on(reader);
      got = EncodeOne(*enc, kPromptA).cpu();  // a hit, copied on the reader's stream
    }
    EXPECT_EQ(enc->cache_stats().hits, 1);
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5))
        << "relative max error " << ovid::testing::RelativeMaxError(got, want);
  }
}

TEST(Umt5EncoderCuda, AnEvictedEncodingOutlivesAnotherStreamsQueuedReads) {
  if (!ovid::testing::HaveCuda()) GTEST_SKIP() << "no CUDA device";
  const at::Tensor want = Reference(kPromptA);
  ASSERT_TRUE(want.defined());
  const c10::Stream maker = PoolStream(), reader = PoolStream();
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    std::unique_ptr<Umt5Encoder> enc = TinyOnCuda("umt5-cuda-evict.gguf", 1);
    ASSERT_NE(enc, nullptr);
    {
      const c10::StreamGuard on(maker);
      ASSERT_TRUE(EncodeOne(*enc, kPromptA).defined());
    }
    at::Tensor copy;  // made on the reader's stream, behind its products
    KeepBusy(reader);
    {
      const c10::StreamGuard on(reader);
      copy = EncodeOne(*enc, kPromptA).mul(1.0);  // the hit's handle is dropped at once
    }
    {
      // Evicts A (capacity 1): the cache held its last handle. Then enough fresh allocations
      // of its size on the maker's stream, where its memory would go, to take every free block
      // of that size, written at once (that stream is idle).
      const c10::StreamGuard on(maker);
      ASSERT_TRUE(EncodeOne(*enc, kPromptB).defined());
      std::vector<at::Tensor> overwrite;
      for (int i = 0; i < 4096; ++i) overwrite.push_back(at::full_like(want, 1e4, kCuda));
    }
    at::Tensor got;
    {
      const c10::StreamGuard on(reader);
      got = copy.cpu();
    }
    EXPECT_EQ(enc->cache_stats().entries, 1u);
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5))
        << "relative max error " << ovid::testing::RelativeMaxError(got, want);
  }
}

}  // namespace
}  // namespace ovid::umt5
