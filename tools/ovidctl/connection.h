// File: tools/ovidctl/connection.h
// Where and how ovidctl talks to the daemon: address, TLS/mTLS, bearer token and deadline, from
// the global flags with environment fallbacks (OVID_ADDRESS, OVID_TOKEN).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "tools/ovidctl/args.h"

namespace ovidctl {

struct ConnectionOptions {
  std::string address = "localhost:50051";
  std::string token;  // empty: no authorization header
  // PEM contents (not paths). TLS is used when --tls-ca or --tls-cert was given, whatever the
  // files hold: a flag that asks for TLS never falls back to plaintext.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key;
  std::optional<double> timeout_seconds;
};

// Reads the global flags; files that cannot be read and bad values are UsageErrors.
ConnectionOptions ConnectionOptionsFrom(const Args& args);

class Connection {
 public:
  explicit Connection(const ConnectionOptions& options);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return options_.address; }
  // Adds the token and the deadline to a call. The deadline is fixed when the Connection is made,
  // so --timeout bounds the whole command, re-attached streams included.
  void Prepare(grpc::ClientContext* context) const;

 private:
  ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::optional<std::chrono::system_clock::time_point> deadline_;
};

}  // namespace ovidctl
