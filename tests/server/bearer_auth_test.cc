// File: tests/server/bearer_auth_test.cc
// The token file: one token per line, every token accepted, errors that name the line and never
// echo a token, and a reload (the daemon's SIGHUP) that a copy of the object sees and that keeps
// the old tokens when the new file is bad.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "server/auth.h"

namespace ovid::server {
namespace {

class BearerAuthTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string path_ = (std::filesystem::path(::testing::TempDir()) /
                       ("tokens-" + std::to_string(::getpid()) + "-" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                          .string();
};

TEST_F(BearerAuthTest, EveryLineIsATokenAndBlankLinesAreSkipped) {
  Write("old-t0ken\r\n\n  new-t0ken  \n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->enabled());
  EXPECT_TRUE(auth->CheckHeader("Bearer old-t0ken").ok());
  EXPECT_TRUE(auth->CheckHeader("Bearer new-t0ken").ok());
  EXPECT_EQ(auth->CheckHeader("Bearer old-t0ken\nnew-t0ken").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->CheckHeader("Bearer ").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->CheckHeader("Basic old-t0ken").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(BearerAuthTest, TokensShorterThanTheMinimumAreCounted) {
  const std::string at_minimum(BearerAuth::kMinTokenLength, 'k');
  Write("short-t0ken\n" + at_minimum + "\n" + at_minimum.substr(1) + "\n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->ShortTokens(), 2u);
  Write(at_minimum + "\n");
  ASSERT_TRUE(auth->Reload().ok());
  EXPECT_EQ(auth->ShortTokens(), 0u);
  EXPECT_EQ(BearerAuth().ShortTokens(), 0u);  // no tokens at all: nothing to guess
}

TEST_F(BearerAuthTest, ALineMayNameTheTokensTenant) {
  Write(
      "# the operator's, then one per tenant\nadmin-t0ken\na-t0ken tenant=team-a\n"
      "  # b's\nb-t0ken\ttenant=team_b.2  \n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto tenant = [&](const char* header) {
    absl::StatusOr<Caller> caller = auth->IdentifyHeader(header);
    return caller.ok() ? caller->tenant : "refused: " + std::string(caller.status().message());
  };
  EXPECT_EQ(tenant("Bearer admin-t0ken"), "");
  EXPECT_EQ(tenant("Bearer a-t0ken"), "team-a");
  EXPECT_EQ(tenant("Bearer b-t0ken"), "team_b.2");
  EXPECT_EQ(tenant("Bearer team-a"), "refused: invalid bearer token");
  EXPECT_EQ(tenant("Bearer a-t0ken tenant=team-a"), "refused: invalid bearer token");
  EXPECT_EQ(tenant("Bearer #"), "refused: invalid bearer token");  // comments are no tokens
  EXPECT_EQ(auth->Tenants(), (std::vector<std::string>{"team-a", "team_b.2"}));
  EXPECT_TRUE(Caller{}.Sees("team-a"));
  EXPECT_TRUE(Caller{"team-a"}.Sees("team-a"));
  EXPECT_FALSE(Caller{"team-a"}.Sees("team-b"));
  EXPECT_FALSE(Caller{"team-a"}.Sees(""));
}

TEST_F(BearerAuthTest, BadTenantLinesNameTheLineWithoutTheToken) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ok-t0ken\nsecr3t-one tenant=team a\n", "line 2 has 3 fields"},
      {"secr3t-one tenant=team/a\n", "line 1: the tenant must be 1-64 letters"},
      {"secr3t-one tenant=" + std::string(65, 't') + "\n", "line 1: the tenant must be"},
      {"secr3t-one tenant=team-a\n\nsecr3t-one tenant=team-b\n", "line 3 repeats a token"},
      // The columns swapped: the secret would have become a tenant name, shown everywhere.
      {"team-a secr3t-0123456789abcdef\n", "line 1: the second field must be tenant=NAME"},
      {"secr3t-one tenant=secr3t-two\nsecr3t-two\n", "names a tenant that is also a token"},
  };
  for (const auto& [text, expected] : cases) {
    Write(text);
    absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
    ASSERT_FALSE(auth.ok()) << text;
    EXPECT_NE(auth.status().message().find(expected), std::string::npos) << auth.status();
    EXPECT_EQ(auth.status().message().find("secr3t"), std::string::npos) << auth.status();
  }
}

TEST_F(BearerAuthTest, ABadByteNamesItsLineAndOffsetWithoutTheToken) {
  Write("good-one\nsecr\x01t\n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(auth.status().message());
  EXPECT_NE(message.find("offset 4 of the token on line 2"), std::string::npos) << message;
  EXPECT_NE(message.find(path_), std::string::npos) << message;
  EXPECT_EQ(message.find("secr"), std::string::npos) << message;
  EXPECT_EQ(message.find("good-one"), std::string::npos) << message;
}

TEST_F(BearerAuthTest, AFileOfBlankLinesIsRefusedAsEmpty) {
  Write("\n \r\n\t\n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(auth.status().message().find("is empty"), absl::string_view::npos);
  EXPECT_EQ(BearerAuth::FromFile(path_ + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BearerAuthTest, ReloadIsSeenByCopiesAndABadFileKeepsTheOldTokens) {
  Write("first\n");
  absl::StatusOr<BearerAuth> loaded = BearerAuth::FromFile(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const BearerAuth service_copy = *loaded;  // the service holds a copy, the daemon reloads
  // An overlapping rotation: add the new token, then drop the old one.
  Write("first\nsecond\n");
  ASSERT_EQ(loaded->Reload().value_or(0), 2u);
  EXPECT_TRUE(service_copy.CheckHeader("Bearer second").ok());
  EXPECT_TRUE(service_copy.CheckHeader("Bearer first").ok());
  Write("second\n");
  ASSERT_EQ(loaded->Reload().value_or(0), 1u);
  EXPECT_EQ(service_copy.CheckHeader("Bearer first").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(service_copy.CheckHeader("Bearer second").ok());
  // A half-written or emptied file must not lock every client out, nor let everyone in.
  Write("");
  EXPECT_EQ(loaded->Reload().status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove(path_);
  EXPECT_EQ(loaded->Reload().status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(service_copy.CheckHeader("Bearer second").ok());
  EXPECT_EQ(service_copy.CheckHeader("Bearer first").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(BearerAuthTest, ReloadIfChangedReadsOnlyANewVersionAndReportsABadOneOnce) {
  Write("first\n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);  // the file FromFile read
  // The kubelet's way: a new file renamed over the old one (a new inode, even at equal size
  // and within one timestamp tick).
  const std::string next = path_ + ".next";
  {
    std::ofstream out(next, std::ios::binary);
    out << "secnd\n";
  }
  std::filesystem::rename(next, path_);
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::optional<size_t>(1));
  EXPECT_TRUE(auth->CheckHeader("Bearer secnd").ok());
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);
  // Gone: reported once, then quiet until it is back; the tokens stay meanwhile.
  std::filesystem::remove(path_);
  EXPECT_EQ(auth->ReloadIfChanged().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);
  EXPECT_TRUE(auth->CheckHeader("Bearer secnd").ok());
  Write("third\nfourth\n");
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::optional<size_t>(2));
  EXPECT_TRUE(auth->CheckHeader("Bearer fourth").ok());
  EXPECT_EQ(auth->CheckHeader("Bearer secnd").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(BearerAuthTest, ASignalReloadCountsAsSeenAndAChmodIsAChange) {
  Write("first\n");
  absl::StatusOr<BearerAuth> auth = BearerAuth::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  // SIGHUP read the new version: the periodic check must not load (and log) it again.
  Write("second\n");
  ASSERT_EQ(auth->Reload().value_or(0), 1u);
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);
  // A bad version SIGHUP already reported is not reported again by the check.
  Write("bad\x01\n");
  EXPECT_EQ(auth->Reload().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);
  EXPECT_TRUE(auth->CheckHeader("Bearer second").ok());
  // Fixed by a permission change alone (an unreadable file made readable): only the change
  // time moves, and that is a new version, loaded. (Root reads it either way, so the tokens
  // are the same; what is checked is that the check looks again.)
  Write("third\n");
  ASSERT_EQ(auth->ReloadIfChanged().value(), std::optional<size_t>(1));
  absl::SleepFor(absl::Milliseconds(20));
  std::filesystem::permissions(path_, std::filesystem::perms::owner_read,
                               std::filesystem::perm_options::replace);
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::optional<size_t>(1));
  EXPECT_EQ(auth->ReloadIfChanged().value(), std::nullopt);
}

TEST_F(BearerAuthTest, ATokenGivenInCodeHasNoFileToReload) {
  const BearerAuth auth = BearerAuth::WithToken("s3cret");
  EXPECT_TRUE(auth.CheckHeader("Bearer s3cret").ok());
  EXPECT_EQ(auth.Reload().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(auth.ReloadIfChanged().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(BearerAuth().enabled());
  EXPECT_TRUE(BearerAuth().CheckHeader("").ok());
}

}  // namespace
}  // namespace ovid::server
