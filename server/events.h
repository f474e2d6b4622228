// File: server/events.h
// Engine results -> ovid.v1 events: the only place the engine's structs meet the proto's
// messages on the way out.
#pragma once

#include <cstddef>
#include <vector>

#include "ovid/engine.h"
#include "ovid/v1/generation.pb.h"

namespace ovid::server {

// OutputChunk.data is at most this (proto: "at most 1 MiB"), well under gRPC's 4 MiB default
// receive limit of stock clients.
inline constexpr size_t kMaxChunkBytes = size_t{1} << 20;

v1::GenerateEvent ProgressEvent(const Progress& progress);
// One output cut into chunks of at most `max_chunk` bytes; the last carries total_bytes and
// SHA-256. An empty output is one empty, last chunk.
std::vector<v1::GenerateEvent> OutputChunkEvents(const Output& output,
                                                 size_t max_chunk = kMaxChunkBytes);
v1::Final FinalFromResult(const GenerationResult& result, double queue_seconds,
                          double total_seconds);

}  // namespace ovid::server
