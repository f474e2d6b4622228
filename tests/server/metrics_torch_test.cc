// File: tests/server/metrics_torch_test.cc
// Only in builds with LibTorch (metrics_tests.cmake). Makes metrics_test a binary that really
// uses LibTorch, as the daemon does, and checks the premise of the civetweb trap there: the
// static TLS of the loaded libraries is more than civetweb's 100 KiB thread stacks can hold, so
// MetricsExposerTest.ServesTheMetricsOnAPickedPort passes only thanks to civetweb_stack.cc.
#include <ATen/ops/ones.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstddef>
#include <string>

namespace ovid::server {
namespace {

struct TlsTotals {
  size_t bytes = 0;
  std::string largest;
  size_t largest_bytes = 0;
};

// Sums the PT_TLS segments of every loaded object: what glibc must place in each new thread.
TlsTotals StaticTls() {
  TlsTotals totals;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* totals = static_cast<TlsTotals*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
          const size_t bytes = info->dlpi_phdr[i].p_memsz;
          totals->bytes += bytes;
          if (bytes > totals->largest_bytes) {
            totals->largest_bytes = bytes;
            totals->largest = info->dlpi_name;
          }
        }
        return 0;
      },
      &totals);
  return totals;
}

TEST(CivetwebStackTest, LibTorchIsLinkedAndWorks) {
  // A real call, so no --as-needed link can drop libtorch_cpu (and the CUDA libraries with it).
  EXPECT_EQ(at::ones({2, 3}).sum().item<double>(), 6.0);
}

#if defined(OVID_TORCH_CUDA)
TEST(CivetwebStackTest, TheLoadedStaticTlsDoesNotFitCivetwebsStack) {
  const TlsTotals tls = StaticTls();
  // 102400 is civetweb's stack size; glibc needs the TLS plus its own guard and minimum on top.
  EXPECT_GT(tls.bytes, size_t{102400})
      << "the trap is not set in this binary (largest TLS: " << tls.largest << ", "
      << tls.largest_bytes << " bytes); the scrape test then proves nothing about the interposer";
}
#endif

}  // namespace
}  // namespace ovid::server
