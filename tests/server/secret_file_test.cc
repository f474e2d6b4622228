// File: tests/server/secret_file_test.cc
// Credentials files are read without hanging or ballooning: a FIFO (which would block the
// signal watcher's reload forever), a folder and an oversized file are refused by name.
#include "server/secret_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/time/clock.h"

namespace ovid::server {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          (name + "-" + std::to_string(::getpid())))
      .string();
}

TEST(SecretFileTest, ReadsARegularFileWhole) {
  const std::string path = TempPath("secret-regular");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("line one\nline\0two\n", 18);
  }
  absl::StatusOr<std::string> bytes = ReadSecretFile("--flag", path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, std::string("line one\nline\0two\n", 18));
  std::filesystem::remove(path);
}

TEST(SecretFileTest, AFifoIsRefusedAtOnceInsteadOfWaitingForAWriter) {
  const std::string path = TempPath("secret-fifo");
  std::filesystem::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> bytes = ReadSecretFile("--auth-token-file", path);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bytes.status().message(),
            "--auth-token-file: " + path + " is not a regular file");
  std::filesystem::remove(path);
}

TEST(SecretFileTest, AFolderAMissingFileAndAHugeFileAreNamed) {
  const std::string dir = TempPath("secret-dir");
  std::filesystem::create_directories(dir);
  EXPECT_EQ(ReadSecretFile("--tls-cert", dir).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove(dir);
  absl::StatusOr<std::string> missing = ReadSecretFile("--tls-key", dir + "/none");
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("--tls-key: cannot read " + dir + "/none"),
            absl::string_view::npos)
      << missing.status();
  const std::string big = TempPath("secret-big");
  {
    std::ofstream out(big, std::ios::binary);
    out << std::string(100, 'x');
  }
  absl::StatusOr<std::string> too_big = ReadSecretFile("--tls-client-ca", big, 99);
  ASSERT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("holds 100 bytes, more than the 99"),
            absl::string_view::npos)
      << too_big.status();
  EXPECT_TRUE(ReadSecretFile("--tls-client-ca", big, 100).ok());
  std::filesystem::remove(big);
}

}  // namespace
}  // namespace ovid::server
