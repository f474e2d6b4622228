// File: engine/gguf/safetensors_writer.h
// A minimal .safetensors writer (the reader is safetensors_file.h): 8-byte little-endian header
// length, the JSON header {name: {dtype, shape, data_offsets}} (plus an optional "__metadata__"
// string map) padded with spaces to a multiple of 8 bytes (the convention that keeps the data
// 8-byte aligned), then the tensors' bytes back to back in the given order. Torch-free: the
// pipeline serializes its LATENTS output in memory with it, ovid-forward writes files.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::gguf {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;              // "F32", "BF16", ... (safetensors spelling)
  std::vector<int64_t> shape;     // PyTorch order
  std::span<const uint8_t> data;  // exactly numel * dtype bytes
};

// The whole file as bytes. INVALID_ARGUMENT for an empty, reserved ("__metadata__") or
// duplicate name.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<SafetensorsEntry>& entries,
    const std::map<std::string, std::string>& metadata = {});

// Writes `entries` to `path` through a temporary file renamed at the end.
absl::Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace ovid::gguf
