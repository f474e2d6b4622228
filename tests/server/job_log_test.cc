// File: tests/server/job_log_test.cc
// JobLog's refusal lines: the client's address when known, and at most kRefusalsPerWindow per
// window (one window for credentials, one for requests), the next logged line saying how many
// were left out.
#include "server/job_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace ovid::server {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(JobLogTest, RefusalsNameThePeerAndAreRateLimited) {
  const Logger logger(LogFormat::kText);
  absl::Time now = absl::FromUnixSeconds(1000);
  JobLog log(logger, [&] { return now; });
  const absl::Status bad = absl::UnauthenticatedError("missing or wrong bearer token");

  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3 * JobLog::kRefusalsPerWindow; ++i) log.OnRejected(bad, "ipv4:10.0.0.7:5");
  std::vector<std::string> lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), static_cast<size_t>(JobLog::kRefusalsPerWindow));
  EXPECT_TRUE(absl::StrContains(lines[0], "request refused")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "peer=ipv4:10.0.0.7:5")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "UNAUTHENTICATED")) << lines[0];

  // Still within the window: nothing more.
  now += JobLog::kRefusalWindow / 2;
  ::testing::internal::CaptureStderr();
  log.OnRejected(bad, "ipv4:10.0.0.7:5");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

  // A new window: logged again, with the count of those left out (40 + 1).
  now += JobLog::kRefusalWindow;
  ::testing::internal::CaptureStderr();
  log.OnRejected(bad, "ipv4:10.0.0.7:5");
  lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(lines[0], "not_logged=41")) << lines[0];
  ::testing::internal::CaptureStderr();
  log.OnRejected(bad, "ipv4:10.0.0.7:5");
  EXPECT_FALSE(absl::StrContains(::testing::internal::GetCapturedStderr(), "not_logged"));
  ::testing::internal::CaptureStderr();
  log.OnRejected(absl::ResourceExhaustedError("queue full"));  // a refusal without a peer
  lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(absl::StrContains(lines[0], "peer=")) << lines[0];
}

// A client looping on a bad token fills the credentials' window only: the queue filling up (or
// any other refusal of a request) is still logged, and each kind's count of lines left out is
// said on its own next line and at the end.
TEST(JobLogTest, BadTokenLoopsDoNotHideRequestRefusals) {
  const Logger logger(LogFormat::kText);
  absl::Time now = absl::FromUnixSeconds(7000);
  const absl::Status bad = absl::UnauthenticatedError("missing or wrong bearer token");
  const absl::Status full = absl::ResourceExhaustedError("the queue is full (64 jobs)");
  ::testing::internal::CaptureStderr();
  {
    JobLog log(logger, [&] { return now; });
    for (int i = 0; i < JobLog::kRefusalsPerWindow + 10; ++i) {
      log.OnAuthRefused("WatchJob", bad, "ipv4:10.0.0.9:1");
    }
    for (int i = 0; i < 5; ++i) log.OnRejected(full, "ipv4:10.0.0.8:2");
    log.OnRejected(absl::PermissionDeniedError("token not allowed"), "ipv4:10.0.0.9:1");
    for (int i = 0; i < JobLog::kRefusalsPerWindow; ++i) log.OnRejected(full, "ipv4:10.0.0.8:2");
  }
  std::vector<std::string> lines = Lines(::testing::internal::GetCapturedStderr());
  // 20 credential lines, the 20 queue-full lines the request window allows, one end line each.
  ASSERT_EQ(lines.size(), static_cast<size_t>(2 * JobLog::kRefusalsPerWindow + 2));
  int full_lines = 0;
  for (const std::string& line : lines) {
    if (absl::StrContains(line, "RESOURCE_EXHAUSTED")) ++full_lines;
  }
  EXPECT_EQ(full_lines, JobLog::kRefusalsPerWindow);
  EXPECT_TRUE(absl::StrContains(lines[JobLog::kRefusalsPerWindow], "RESOURCE_EXHAUSTED"))
      << lines[JobLog::kRefusalsPerWindow];
  const std::string& credentials_end = lines[lines.size() - 2];
  const std::string& requests_end = lines.back();
  EXPECT_TRUE(absl::StrContains(credentials_end, "refusals=credentials")) << credentials_end;
  EXPECT_TRUE(absl::StrContains(credentials_end, "not_logged=11")) << credentials_end;
  EXPECT_TRUE(absl::StrContains(requests_end, "refusals=request")) << requests_end;
  EXPECT_TRUE(absl::StrContains(requests_end, "not_logged=5")) << requests_end;
}

TEST(JobLogTest, OtherMethodsAuthRefusalsNameTheMethodUnderTheSameLimit) {
  const Logger logger(LogFormat::kText);
  absl::Time now = absl::FromUnixSeconds(5000);
  JobLog log(logger, [&] { return now; });
  const absl::Status bad = absl::UnauthenticatedError("missing or wrong bearer token");
  ::testing::internal::CaptureStderr();
  log.OnAuthRefused("GetJob", bad, "ipv6:[::1]:4711");
  std::vector<std::string> lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(lines[0], "request refused")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "method=GetJob")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "UNAUTHENTICATED")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "peer=ipv6:[::1]:4711")) << lines[0];
  // One limit for both kinds: a client probing every method with a bad token is held to it too.
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < JobLog::kRefusalsPerWindow; ++i) {
    if (i % 2 == 0) {
      log.OnAuthRefused("WatchJob", bad, "ipv4:10.0.0.9:1");
    } else {
      log.OnRejected(bad, "ipv4:10.0.0.9:1");
    }
  }
  lines = Lines(::testing::internal::GetCapturedStderr());
  EXPECT_EQ(lines.size(), static_cast<size_t>(JobLog::kRefusalsPerWindow - 1));
  now += JobLog::kRefusalWindow;
  ::testing::internal::CaptureStderr();
  log.OnAuthRefused("ListJobs", bad, "ipv4:10.0.0.9:1");
  lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(lines[0], "method=ListJobs")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "not_logged=1")) << lines[0];
}

TEST(JobLogTest, AClockSteppedBackStartsAWindowAndTheLastCountIsSaidAtTheEnd) {
  const Logger logger(LogFormat::kText);
  absl::Time now = absl::FromUnixSeconds(100000);
  const absl::Status bad = absl::UnauthenticatedError("missing or wrong bearer token");
  ::testing::internal::CaptureStderr();
  {
    JobLog log(logger, [&] { return now; });
    for (int i = 0; i < JobLog::kRefusalsPerWindow + 5; ++i) log.OnRejected(bad, "ipv4:1.2.3.4:5");
    // NTP steps the clock an hour back: the next refusal is logged (with the 5), not an hour
    // of silence.
    now -= absl::Hours(1);
    log.OnRejected(bad, "ipv4:1.2.3.4:5");
    for (int i = 0; i < 2 * JobLog::kRefusalsPerWindow; ++i) log.OnRejected(bad, "ipv4:1.2.3.4:5");
  }
  std::vector<std::string> lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), static_cast<size_t>(2 * JobLog::kRefusalsPerWindow + 1));
  EXPECT_TRUE(absl::StrContains(lines[JobLog::kRefusalsPerWindow], "not_logged=5"))
      << lines[JobLog::kRefusalsPerWindow];
  // 2 x 20 after the step, 19 of them logged in its window (the first was the 21st line).
  EXPECT_TRUE(absl::StrContains(lines.back(), "requests refused and not logged")) << lines.back();
  EXPECT_TRUE(absl::StrContains(lines.back(), "not_logged=21")) << lines.back();
}

}  // namespace
}  // namespace ovid::server
