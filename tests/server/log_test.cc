// File: tests/server/log_test.cc
// The daemon's log lines: in JSON, only values that are JSON numbers go unquoted, so a client's
// text (client_request_id) can never make a line invalid JSON or split it, and client text, ids
// and numbers a double cannot hold exactly stay strings; in text, values with
// spaces, quotes or control characters are quoted and escaped.
#include "server/log.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"

namespace ovid::server {
namespace {

std::string JsonField(const std::string& value) {
  const std::string line = Logger(LogFormat::kJson).Format("INFO", "m", {{"id", value}});
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  const size_t at = line.find("\"id\":");
  EXPECT_NE(at, std::string::npos) << line;
  return line.substr(at + 5, line.size() - at - 6);  // up to the closing brace
}

TEST(LogTest, JsonWritesOnlyJsonNumbersBare) {
  for (const char* number : {"0", "7", "-12", "3.25", "1e9", "-0.5E-3", "123456789012345"}) {
    EXPECT_EQ(JsonField(number), number);
  }
  const struct {
    const char* value;
    const char* written;
  } quoted[] = {{"NaN", "\"NaN\""},   {"nan", "\"nan\""},     {"Infinity", "\"Infinity\""},
                {"-inf", "\"-inf\""}, {"+1", "\"+1\""},       {"1.", "\"1.\""},
                {".5", "\".5\""},     {"007", "\"007\""},     {"1\n", "\"1\\n\""},
                {" 1", "\" 1\""},     {"0x10", "\"0x10\""},   {"1e", "\"1e\""},
                {"-", "\"-\""},       {"", "\"\""},           {"a\"b", "\"a\\\"b\""},
                // numbers a double-based reader would not get back as written: too many digits
                // (a 64-bit value), an overflow to infinity, an underflow to zero
                {"12345678901234567890", "\"12345678901234567890\""},
                {"1e999", "\"1e999\""},    {"-0.5e-400", "\"-0.5e-400\""}};
  for (const auto& q : quoted) EXPECT_EQ(JsonField(q.value), q.written) << q.value;
}

// A client's text and identifiers stay strings whatever they look like: a field keeps one type.
TEST(LogTest, JsonKeepsClientTextAndIdsAsStrings) {
  const Logger json(LogFormat::kJson);
  const std::string line = json.Format(
      "INFO", "m",
      {{"client_request_id", "123"}, {"job", "7"}, {"seed", "18446744073709551615"}, {"steps", "50"}});
  EXPECT_NE(line.find("\"client_request_id\":\"123\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"job\":\"7\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"seed\":\"18446744073709551615\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"steps\":50"), std::string::npos) << line;
}

TEST(LogTest, TextQuotesValuesThatWouldBreakTheKeyValuePairs) {
  const Logger text(LogFormat::kText);
  EXPECT_TRUE(absl::EndsWith(text.Format("INFO", "m", {{"k", "plain-7"}}), " k=plain-7"));
  for (const char* value : {"two words", "a=b", "q\"uote", "line\nbreak", "cr\rret", "esc\x1b[31m",
                            ""}) {
    const std::string line = text.Format("INFO", "m", {{"k", value}});
    EXPECT_TRUE(absl::StrContains(line, " k=\"")) << line;
    for (char c : line) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << line;
  }
}

}  // namespace
}  // namespace ovid::server
