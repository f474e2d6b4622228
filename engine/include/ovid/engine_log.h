// File: engine/include/ovid/engine_log.h
// Where the engine's own diagnostics go: a load's VRAM summary, a dequantize workspace that grows,
// a tokenizer without normalization rules, and the lines libav (the MP4 and image codecs) logs.
// By default each is an "ovid: ..." line on stderr; a server installs a sink so that they come out
// in its own log format (one JSON object per line under --log-format=json).
#pragma once

#include <functional>
#include <string_view>

namespace ovid {

enum class EngineLogLevel { kInfo, kWarning, kError };
using EngineLogSink = std::function<void(EngineLogLevel level, std::string_view message)>;

// Sends every later message to `sink` (null: back to stderr). Safe from any thread; a message
// being written meanwhile goes to the sink it started with.
void SetEngineLogSink(EngineLogSink sink);

// One message, without a trailing newline.
void EngineLog(EngineLogLevel level, std::string_view message);

}  // namespace ovid
