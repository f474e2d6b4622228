// File: tools/ovidctl/connection.cc
#include "tools/ovidctl/connection.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ovidctl {
namespace {

std::string ReadFileOrThrow(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(absl::StrCat("--", flag, ": cannot read '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// HOST[:PORT] -> HOST:PORT with the daemon's port when none is given: gRPC would otherwise take
// a bare host name to mean port 443. An address with a scheme (unix:, dns:///, ipv6 in brackets
// with a port) is left as it is.
std::string WithDefaultPort(const std::string& address, const char* source) {
  if (address.empty()) throw UsageError(absl::StrCat(source, ": empty address"));
  if (address.find(':') == std::string::npos) return absl::StrCat(address, ":50051");
  if (address.front() == '[' && address.back() == ']') return absl::StrCat(address, ":50051");
  return address;
}

}  // namespace

ConnectionOptions ConnectionOptionsFrom(const Args& args) {
  ConnectionOptions o;
  if (auto a = args.Get("address")) {
    o.address = WithDefaultPort(*a, "--address");
  } else if (auto env = Env("OVID_ADDRESS"); !env.empty()) {
    o.address = WithDefaultPort(env, "OVID_ADDRESS");
  }
  if (args.Has("token") && args.Has("token-file")) {
    throw UsageError("give --token or --token-file, not both");
  }
  const char* token_source = "OVID_TOKEN";
  if (auto t = args.Get("token")) {
    o.token = *t;
    token_source = "--token";
  } else if (auto f = args.Get("token-file")) {
    o.token = ReadFileOrThrow("token-file", *f);
    token_source = "--token-file";
  } else {
    o.token = Env("OVID_TOKEN");
  }
  // A trailing newline (a file, a Kubernetes Secret) is no part of the token. Any other byte
  // outside visible ASCII cannot go in a header: gRPC would abort the process, printing the
  // token. The token is not echoed here.
  o.token = std::string(absl::StripAsciiWhitespace(o.token));
  for (size_t i = 0; i < o.token.size(); ++i) {
    const auto c = static_cast<unsigned char>(o.token[i]);
    if (c < 0x21 || c > 0x7e) {
      throw UsageError(absl::StrCat(token_source, ": the token has a byte outside printable ASCII ",
                                    "(0x21-0x7e) at offset ", i,
                                    "; a bearer token is one line of visible characters"));
    }
  }
  // An empty PEM file is a mistake (an unfilled secret, say), not "no CA": refused by name.
  const auto pem = [&](const char* flag, const std::string& path) {
    std::string text = ReadFileOrThrow(flag, path);
    if (absl::StripAsciiWhitespace(text).empty()) {
      throw UsageError(absl::StrCat("--", flag, ": '", path, "' is empty (PEM expected)"));
    }
    return text;
  };
  if (auto p = args.Get("tls-ca")) o.tls_ca = pem("tls-ca", *p);
  if (auto p = args.Get("tls-cert")) o.tls_cert = pem("tls-cert", *p);
  if (auto p = args.Get("tls-key")) o.tls_key = pem("tls-key", *p);
  o.tls = args.Has("tls-ca") || args.Has("tls-cert");
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    throw UsageError("--tls-cert and --tls-key go together (the client's mTLS identity)");
  }
  o.timeout_seconds = args.GetDouble("timeout");
  if (o.timeout_seconds && !(*o.timeout_seconds > 0)) {
    throw UsageError("--timeout: must be a positive number of seconds");
  }
  return o;
}

Connection::Connection(const ConnectionOptions& options) : options_(options) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca;  // empty: the system's roots
    ssl.pem_private_key = options.tls_key;
    ssl.pem_cert_chain = options.tls_cert;
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  // Keepalive pings while a call is open: a queued job sends nothing for minutes, and a load
  // balancer or NAT that drops idle connections would end the stream silently. The daemon
  // accepts pings every 30 s (server/daemon.cc).
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  channel_args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  channel_ = grpc::CreateCustomChannel(options.address, creds, channel_args);
  if (options.timeout_seconds) {
    deadline_ = std::chrono::system_clock::now() +
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::duration<double>(*options.timeout_seconds));
  }
}

void Connection::Prepare(grpc::ClientContext* context) const {
  // Plain metadata rather than call credentials: gRPC refuses call credentials on an insecure
  // channel, and the daemon checks only this header.
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  if (deadline_) context->set_deadline(*deadline_);
}

}  // namespace ovidctl
