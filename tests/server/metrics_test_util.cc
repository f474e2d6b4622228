// File: tests/server/metrics_test_util.cc
#include "tests/server/metrics_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ovid::server::testing {
namespace {

// Closes the socket on every return path.
struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) close(fd);
  }
};

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(int port, std::string_view path) {
  Socket sock{socket(AF_INET, SOCK_STREAM, 0)};
  if (sock.fd < 0) return Errno("socket");
  timeval timeout{10, 0};
  setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Errno(absl::StrCat("connect 127.0.0.1:", port));
  }
  const std::string request = absl::StrCat("GET ", std::string(path), " HTTP/1.0\r\nHost: 127.0.0.1:", port,
                                           "\r\nAccept: text/plain\r\n\r\n");
  if (send(sock.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return Errno("send");
  }
  std::string raw;
  char buffer[16384];
  while (true) {
    const ssize_t n = recv(sock.fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) return Errno("recv");
    raw.append(buffer, static_cast<size_t>(n));
  }
  const size_t head_end = raw.find("\r\n\r\n");
  const size_t line_end = raw.find("\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: '", raw.substr(0, 80), "'"));
  }
  HttpResponse response;
  std::vector<std::string> status_line = absl::StrSplit(raw.substr(0, line_end), ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: '", raw.substr(0, line_end), "'"));
  }
  response.headers = raw.substr(line_end + 2, head_end - line_end - 2);
  response.body = raw.substr(head_end + 4);
  return response;
}

std::optional<double> SampleValue(std::string_view text, std::string_view series) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.size() <= series.size() || line.substr(0, series.size()) != series ||
        line[series.size()] != ' ') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(std::string(line.substr(series.size() + 1)), &value)) return value;
  }
  return std::nullopt;
}

}  // namespace ovid::server::testing
