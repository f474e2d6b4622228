// File: engine/gguf/safetensors_stream_writer.h
// Writes a .safetensors file one tensor at a time (safetensors_writer.h builds the whole file in
// memory, which is fine for latents but not for an 11 GB text encoder). The header is planned
// from names, dtypes and shapes alone; then each tensor's bytes come from a callback, which may
// return a view into a mapped input (no copy) or fill the scratch buffer it is given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::gguf {

struct SafetensorsPlan {
  std::string name;
  std::string dtype;           // "F32", "BF16", ... (safetensors spelling)
  std::vector<int64_t> shape;  // PyTorch order
  uint64_t nbytes = 0;
};

// The 8-byte length plus the JSON header, padded with spaces so the data starts 8-byte
// aligned. INVALID_ARGUMENT for an empty, reserved ("__metadata__") or duplicate name.
absl::StatusOr<std::string> SafetensorsHeader(const std::vector<SafetensorsPlan>& tensors,
                                              const std::map<std::string, std::string>& metadata);

// The bytes of tensor `index` (exactly plan.nbytes): a view that stays valid until the next
// call, or `*scratch` after filling it.
using SafetensorsDataFn = std::function<absl::StatusOr<std::span<const uint8_t>>(
    size_t index, std::vector<uint8_t>* scratch)>;

// Writes through `path`.tmp, renamed at the end, so a failure leaves no partial file under the
// final name. Errors name the path and the tensor.
absl::Status WriteSafetensorsStreaming(const std::string& path,
                                       const std::vector<SafetensorsPlan>& tensors,
                                       const std::map<std::string, std::string>& metadata,
                                       const SafetensorsDataFn& data);

}  // namespace ovid::gguf
