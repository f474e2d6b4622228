// File: server/library_log.cc
#include "server/library_log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <atomic>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "server/log_window.h"

namespace ovid::server {
namespace {

// The handlers are plain function pointers without user data, so the logger is a global; it is
// never freed (library threads may still log during exit).
std::atomic<const Logger*> g_logger{nullptr};

// A client can make the libraries log at will: every request with a string field that is not
// UTF-8 makes protobuf log an ERROR line, before any token is checked (13,000 lines a second from
// one client). So each library gets a window, as refused requests do (server/job_log.h).
struct LibraryWindow {
  std::mutex mu;
  LogWindow window{20, absl::Seconds(10)};
};
LibraryWindow& WindowOf(absl::string_view source) {
  static auto* grpc = new LibraryWindow();  // never freed, as the logger
  static auto* protobuf = new LibraryWindow();
  return source == "grpc" ? *grpc : *protobuf;
}

void Emit(bool error, absl::string_view source, absl::string_view where, absl::string_view text) {
  const Logger* log = g_logger.load(std::memory_order_acquire);
  if (log == nullptr) return;
  LogFields fields = {{"source", std::string(source)}, {"at", std::string(where)}};
  {
    LibraryWindow& w = WindowOf(source);
    const std::lock_guard<std::mutex> lock(w.mu);
    if (!w.window.Admit(absl::Now(), fields)) return;
  }
  if (error) {
    log->Error(text, fields);
  } else {
    log->Info(text, fields);
  }
}

void GrpcLine(gpr_log_func_args* args) {
  Emit(args->severity == GPR_LOG_SEVERITY_ERROR, "grpc",
       absl::StrCat(args->file != nullptr ? args->file : "?", ":", args->line),
       args->message != nullptr ? args->message : "");
}

void ProtobufLine(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  Emit(level >= google::protobuf::LOGLEVEL_ERROR, "protobuf",
       absl::StrCat(file != nullptr ? file : "?", ":", line), message);
}

}  // namespace

void RouteLibraryLogs(const Logger& log) {
  g_logger.store(new Logger(log), std::memory_order_release);
  gpr_set_log_function(GrpcLine);
  google::protobuf::SetLogHandler(ProtobufLine);
}

}  // namespace ovid::server
