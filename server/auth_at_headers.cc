// File: server/auth_at_headers.cc
#include "server/auth_at_headers.h"

#include <grpcpp/security/auth_context.h>

#include <algorithm>
#include <utility>

#include "server/status_util.h"

namespace ovid::server {
namespace {

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

// "tls-client:<name>[,<name>...]", the client certificate's names under mutual TLS (what gRPC
// calls the peer identity); empty otherwise.
std::string ClientIdentity(const grpc::AuthContext* context) {
  if (context == nullptr || !context->IsPeerAuthenticated()) return "";
  std::string identity = "tls-client:";
  const size_t empty = identity.size();
  for (const grpc::string_ref& name : context->GetPeerIdentity()) {
    if (identity.size() > empty) identity += ",";
    identity += View(name);
  }
  return identity;
}

}  // namespace

AuthAtHeaders::AuthAtHeaders(BearerAuth auth, std::vector<std::string> guarded,
                             RefusalListener on_refused)
    : auth_(std::move(auth)), guarded_(std::move(guarded)), on_refused_(std::move(on_refused)) {}

grpc::Status AuthAtHeaders::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                    OutputMetadata*, OutputMetadata*) {
  if (!auth_.enabled()) return grpc::Status::OK;
  const auto path_it = auth_metadata.find(":path");
  const std::string_view path = path_it == auth_metadata.end() ? "" : View(path_it->second);
  if (std::find(guarded_.begin(), guarded_.end(), path) == guarded_.end()) {
    return grpc::Status::OK;
  }
  const auto header = auth_metadata.find("authorization");
  absl::Status status =
      header == auth_metadata.end()
          ? BearerAuth::MissingHeaderError()
          : auth_.CheckHeader(absl::string_view(header->second.data(), header->second.size()));
  if (status.ok()) return grpc::Status::OK;
  if (on_refused_) on_refused_(path, status, ClientIdentity(context));
  return ToGrpcStatus(status);
}

}  // namespace ovid::server
