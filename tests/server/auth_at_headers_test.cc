// File: tests/server/auth_at_headers_test.cc
// The header-time token check (TLS listeners): which paths it guards, what it answers, and that
// every refusal reaches the listener with the call's path. That gRPC runs it before reading a
// request message is shown end to end (tests/e2e/test_security.py, half-sent uploads).
#include "server/auth_at_headers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ovid::server {
namespace {

struct Refusal {
  std::string path, message, client;
};

class AuthAtHeadersTest : public ::testing::Test {
 protected:
  grpc::Status Call(AuthAtHeaders& check, const std::string& path,
                    const char* authorization = nullptr) {
    grpc::AuthMetadataProcessor::InputMetadata metadata;
    metadata.emplace(":path", path);
    metadata.emplace("user-agent", "grpc-test");
    if (authorization != nullptr) metadata.emplace("authorization", authorization);
    grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
    return check.Process(metadata, nullptr, &consumed, &response);
  }
  AuthAtHeaders Check(const std::string& token) {
    return AuthAtHeaders(
        BearerAuth::WithToken(token),
        {"/ovid.v1.Generation/Generate", "/ovid.v1.Generation/GetJob",
         "/ovid.v1.Generation/GetModel", "/ovid.v1.Generation/ListJobs"},
        [this](std::string_view path, const absl::Status& status, std::string_view client) {
          refusals_.push_back(
              {std::string(path), std::string(status.message()), std::string(client)});
        });
  }
  std::vector<Refusal> refusals_;
};

TEST_F(AuthAtHeadersTest, TheServiceNeedsAValidTokenAndIsToldOfEveryRefusal) {
  AuthAtHeaders check = Check("s3cret-t0ken");
  EXPECT_TRUE(Call(check, "/ovid.v1.Generation/Generate", "Bearer s3cret-t0ken").ok());
  EXPECT_TRUE(Call(check, "/ovid.v1.Generation/GetModel", "bearer   s3cret-t0ken ").ok());

  const grpc::Status missing = Call(check, "/ovid.v1.Generation/Generate");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(missing.error_message().find("authorization: Bearer"), std::string::npos);
  const grpc::Status wrong = Call(check, "/ovid.v1.Generation/GetJob", "Bearer s3cret-t0keN");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message(), "invalid bearer token");
  const grpc::Status scheme = Call(check, "/ovid.v1.Generation/ListJobs", "Basic czNjcmV0");
  EXPECT_EQ(scheme.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  ASSERT_EQ(refusals_.size(), 3u);
  EXPECT_EQ(refusals_[0].path, "/ovid.v1.Generation/Generate");
  EXPECT_EQ(refusals_[1].path, "/ovid.v1.Generation/GetJob");
  EXPECT_EQ(refusals_[1].message, "invalid bearer token");
  EXPECT_EQ(refusals_[2].path, "/ovid.v1.Generation/ListJobs");
  for (const Refusal& r : refusals_) {
    EXPECT_EQ(r.client, "");  // no client certificate
    EXPECT_EQ(r.message.find("s3cret"), std::string::npos) << r.message;
  }
}

TEST_F(AuthAtHeadersTest, HealthReflectionAndUnknownMethodsPassToGrpc) {
  AuthAtHeaders check = Check("s3cret-t0ken");
  EXPECT_TRUE(Call(check, "/grpc.health.v1.Health/Check").ok());
  EXPECT_TRUE(Call(check, "/grpc.health.v1.Health/Watch").ok());
  EXPECT_TRUE(Call(check, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo").ok());
  // Paths that are no method of the service pass, and gRPC answers UNIMPLEMENTED without
  // reading their message, as over plaintext; their client-chosen names reach no log.
  EXPECT_TRUE(Call(check, "/ovid.v1.GenerationX/Generate").ok());
  EXPECT_TRUE(Call(check, "/ovid.v1.Generation/NoSuchMethod").ok());
  EXPECT_TRUE(refusals_.empty());
}

TEST_F(AuthAtHeadersTest, WithoutTokensEveryCallPasses) {
  AuthAtHeaders check = Check("");
  EXPECT_TRUE(Call(check, "/ovid.v1.Generation/Generate").ok());
  EXPECT_TRUE(Call(check, "/ovid.v1.Generation/GetModel", "Bearer anything").ok());
  EXPECT_TRUE(refusals_.empty());
}

}  // namespace
}  // namespace ovid::server
