// File: server/library_log.h
// gRPC's and protobuf's own log lines (a failed TLS handshake, a request with invalid UTF-8)
// through the daemon's logger, with "source":"grpc" / "protobuf": with --log-format=json they
// were plain text between the JSON lines, and any peer could trigger them.
#pragma once

#include "server/log.h"

namespace ovid::server {

// Installs the handlers; `log` is copied and kept for the rest of the process (the libraries log
// from their own threads until exit). Call once, before the servers start.
void RouteLibraryLogs(const Logger& log);

}  // namespace ovid::server
