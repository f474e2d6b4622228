// File: tests/server/opaque_ids_test.cc
// Sealed ListJobs page tokens and random job ids: neither tells a caller how many jobs the
// daemon has made, and a page token is only taken back from the daemon run that made it.
#include "server/opaque_ids.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "absl/strings/match.h"

namespace ovid::server {
namespace {

bool LowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(PageTokenTest, ASealedNumberOpensToItselfAndShowsNothingOfIt) {
  const PageTokenSeal seal;
  std::set<std::string> tokens;
  for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{1000}, ~uint64_t{0}}) {
    absl::StatusOr<std::string> token = seal.Seal(n);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(token->size(), 32u);
    EXPECT_TRUE(LowerHex(*token)) << *token;
    EXPECT_NE(*token, std::to_string(n));
    tokens.insert(*token);
    absl::StatusOr<uint64_t> opened = seal.Open(*token);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, n);
  }
  EXPECT_EQ(tokens.size(), 5u);
}

TEST(PageTokenTest, MadeUpAlteredOrForeignTokensAreRefused) {
  const PageTokenSeal seal, other_run;
  const std::string token = *seal.Seal(7);
  auto refused = [&](const std::string& t) {
    absl::StatusOr<uint64_t> opened = seal.Open(t);
    if (opened.ok()) return false;
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_TRUE(absl::StartsWith(opened.status().message(), "page_token: ")) << opened.status();
    return true;
  };
  // Every single-digit change.
  for (size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == '0' ? '1' : '0';
    EXPECT_TRUE(refused(altered)) << i;
  }
  // Another daemon run's token (or this one's before a restart), old decimal tokens, and text.
  EXPECT_TRUE(refused(*other_run.Seal(7)));
  for (const char* t : {"7", "+1", " 1", "-1", "not-a-token", ""}) EXPECT_TRUE(refused(t)) << t;
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != token) {  // (a token of digits only has no upper case)
    EXPECT_TRUE(refused(upper));
  }
  EXPECT_TRUE(refused(token + "0"));
  EXPECT_TRUE(refused(token.substr(1)));
}

TEST(PageTokenTest, JobIdsAreRandomAndCountNothing) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> id = RandomJobId();
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_EQ(id->size(), 4u + 32u) << *id;
    EXPECT_TRUE(absl::StartsWith(*id, "job-")) << *id;
    EXPECT_TRUE(LowerHex(id->substr(4))) << *id;
    ids.insert(*id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace ovid::server
