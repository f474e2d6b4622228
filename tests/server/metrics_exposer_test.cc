// File: tests/server/metrics_exposer_test.cc
// The /metrics HTTP server as Prometheus sees it (a raw socket, no HTTP library), its start-up
// errors as Status values, and the civetweb thread-stack interposer. This binary links LibTorch
// where the build has it (metrics_tests.cmake), so the scrape test is the one that fails when
// server/civetweb_stack.cc is missing from the link.
#include "server/metrics_exposer.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/metrics.h"
#include "tests/server/metrics_test_util.h"

namespace ovid::server {
namespace {

using testing::HttpGet;
using testing::HttpResponse;
using testing::SampleValue;

TEST(MetricsExposerTest, ServesTheMetricsOnAPickedPort) {
  MetricsSources sources;
  sources.queue_depth = [] { return size_t{7}; };
  sources.version = "test-version";
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Start("127.0.0.1:0", std::move(sources));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const int port = (*metrics)->port();
  ASSERT_GT(port, 0);
  (*metrics)->OnRejected(QueueFullError(1, 1, 1));

  absl::StatusOr<HttpResponse> response = HttpGet(port, "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(absl::StrContains(response->headers, "text/plain")) << response->headers;
  EXPECT_EQ(SampleValue(response->body, "ovid_queue_depth"), 7.0) << response->body;
  EXPECT_EQ(SampleValue(response->body, "ovid_requests_total{outcome=\"rejected\"}"), 1.0);
  EXPECT_EQ(SampleValue(response->body, "ovid_build_info{version=\"test-version\"}"), 1.0);

  // A second scrape sees the state of its own moment.
  (*metrics)->OnRejected(QueueFullError(1, 1, 1));
  response = HttpGet(port, "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(SampleValue(response->body, "ovid_requests_total{outcome=\"rejected\"}"), 2.0);
}

// Connections that send nothing must not hold the scrape: with civetweb's two threads and its
// 30 s read timeout, two idle sockets made every scrape wait ~30 s.
TEST(MetricsExposerTest, IdleConnectionsDoNotHoldAScrape) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start("127.0.0.1:0", {});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>((*metrics)->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    idle.push_back(fd);
  }
  usleep(200 * 1000);  // let civetweb hand the idle sockets to its workers
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> response = HttpGet((*metrics)->port(), "/metrics");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int fd : idle) close(fd);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(seconds, 2.0);
}

TEST(MetricsExposerTest, OnlyMetricsIsServed) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start("127.0.0.1:0", {});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  absl::StatusOr<HttpResponse> response = HttpGet((*metrics)->port(), "/secrets");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST(MetricsExposerTest, AnAddressInUseIsAStatusNamingIt) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start(address, {});
  close(fd);
  ASSERT_FALSE(metrics.ok());
  EXPECT_EQ(metrics.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(metrics.status().message(), address)) << metrics.status();
}

TEST(MetricsExposerTest, AMalformedAddressIsInvalidArgumentNamingIt) {
  for (const std::string address :
       {"", "nonsense", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:-1", "1.2.3:80",
        "127.0.0.1:80,127.0.0.1:81", "127.0.0.1:443s", "localhost:9464", "[::1:9464"}) {
    absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start(address, {});
    ASSERT_FALSE(metrics.ok()) << address;
    EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_TRUE(absl::StrContains(metrics.status().message(), "'" + address + "'"))
        << metrics.status();
  }
}

TEST(MetricsExposerTest, TheAddressFormsCivetwebTakesAreAccepted) {
  for (const std::string address : {"9464", "0.0.0.0:9464", "127.0.0.1:0", "[::]:9464",
                                    "[::1]:0", "[::ffff:127.0.0.1]:80"}) {
    EXPECT_TRUE(ValidateMetricsAddress(address).ok()) << address;
  }
}

// The interposer itself (server/civetweb_stack.cc), called the way libcivetweb calls it.
TEST(CivetwebStackTest, SmallStackRequestsAreRaisedToOneMiB) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 102400), 0);  // civetweb's default
  size_t size = 0;
  ASSERT_EQ(pthread_attr_getstacksize(&attr, &size), 0);
  EXPECT_EQ(size, size_t{1} << 20);

  ASSERT_EQ(pthread_attr_setstacksize(&attr, size_t{8} << 20), 0);  // larger ones stay
  ASSERT_EQ(pthread_attr_getstacksize(&attr, &size), 0);
  EXPECT_EQ(size, size_t{8} << 20);
  pthread_attr_destroy(&attr);
}

TEST(CivetwebStackTest, AThreadAskingFor100KiBStarts) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 102400), 0);
  pthread_t thread;
  int ran = 0;
  ASSERT_EQ(pthread_create(
                &thread, &attr,
                [](void* arg) -> void* {
                  *static_cast<int*>(arg) = 1;
                  return nullptr;
                },
                &ran),
            0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_EQ(ran, 1);
  pthread_attr_destroy(&attr);
}

}  // namespace
}  // namespace ovid::server
