// File: server/metrics_exposer.cc
#include "server/metrics_exposer.h"

#include <exception>
#include <optional>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/decimal.h"

namespace ovid::server {
namespace {

bool IsIpv4(std::string_view host) {
  int parts = 0;
  for (std::string_view rest = host;; ++parts) {
    const size_t dot = rest.find('.');
    std::optional<uint32_t> part = PlainDecimal(rest.substr(0, dot), 3);
    if (!part.has_value() || *part > 255) return false;
    if (dot == std::string_view::npos) return parts == 3;
    rest = rest.substr(dot + 1);
  }
}

bool IsBracketedIpv6(std::string_view host) {
  if (host.size() < 3 || host.front() != '[' || host.back() != ']') return false;
  for (char c : host.substr(1, host.size() - 2)) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status ValidateMetricsAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  // "PORT" alone, or HOST before the last ':' (an IPv6 host has colons of its own, in brackets).
  const bool has_host = colon != std::string::npos && address.back() != ']';
  std::string_view port = has_host ? std::string_view(address).substr(colon + 1) : address;
  std::string_view host = has_host ? std::string_view(address).substr(0, colon) : "";
  std::optional<uint32_t> port_number = PlainDecimal(port, 5);
  if (!port_number.has_value() || *port_number > 65535 ||
      (has_host && !IsIpv4(host) && !IsBracketedIpv6(host))) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address,
                     "' is not PORT, IPV4:PORT or [IPV6]:PORT with a port in 0..65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& address,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  if (absl::Status valid = ValidateMetricsAddress(address); !valid.ok()) return valid;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb gives each connection a thread until its request is read: with civetweb's
    // defaults (2 threads here before, a 30 s read timeout) two idle TCP connections held every
    // scrape for 30 s, and the alerts and the autoscaler's queue depth went blind. Eight threads
    // and a 5 s read timeout: a scrape takes milliseconds.
    exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "8", "request_timeout_ms", "5000"});
    for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
  } catch (const std::exception& e) {
    // civetweb says no more than "null context ... possible problem binding to port".
    return absl::UnavailableError(
        absl::StrCat("cannot serve /metrics on ", address, ": ", e.what(),
                     " (address in use or not local? in a binary linking LibTorch with CUDA, is "
                     "ovid_civetweb_stack linked in?)"));
  }
  return exposer;
}

}  // namespace ovid::server
