// File: tools/ovid_forward/safetensors_writer.h
// A minimal .safetensors writer (the reader is engine/gguf/safetensors_file.h): 8-byte
// little-endian header length, the JSON header {name: {dtype, shape, data_offsets}} padded with
// spaces to a multiple of 8 bytes (the convention that keeps the data 8-byte aligned), then the
// tensors' bytes back to back in the given order. Torch-free.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ovid::tools {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;              // "F32", "BF16", ... (safetensors spelling)
  std::vector<int64_t> shape;     // PyTorch order
  std::span<const uint8_t> data;  // exactly numel * dtype bytes
};

// Writes `entries` to `path` through a temporary file renamed at the end.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries);

}  // namespace ovid::tools
