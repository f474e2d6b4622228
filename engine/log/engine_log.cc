// File: engine/log/engine_log.cc
#include "ovid/engine_log.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <utility>

namespace ovid {
namespace {

std::mutex sink_mu;
std::shared_ptr<const EngineLogSink> sink;  // null: stderr

}  // namespace

void SetEngineLogSink(EngineLogSink new_sink) {
  std::shared_ptr<const EngineLogSink> next =
      new_sink ? std::make_shared<const EngineLogSink>(std::move(new_sink)) : nullptr;
  const std::lock_guard<std::mutex> lock(sink_mu);
  sink = std::move(next);
}

void EngineLog(EngineLogLevel level, std::string_view message) {
  std::shared_ptr<const EngineLogSink> current;
  {
    const std::lock_guard<std::mutex> lock(sink_mu);
    current = sink;
  }
  if (current) {
    (*current)(level, message);
    return;
  }
  // One fprintf: lines from different threads do not interleave.
  std::fprintf(stderr, "ovid: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace ovid
