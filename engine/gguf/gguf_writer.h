// File: engine/gguf/gguf_writer.h
// Writes valid GGUF v3 files: metadata of every type (nested arrays included), tensors of every
// supported type, each tensor padded to the alignment. Tensor data is produced one tensor at a
// time by a callback, so a multi-gigabyte model never has to sit in memory at once.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/gguf/metadata.h"
#include "kernels/ggml_types.h"

namespace ovid::gguf {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);

  // InvalidArgument on an empty or duplicate key, or a value whose array items do not match
  // their declared element type. "general.alignment" is managed by the writer itself.
  absl::Status AddMetadata(std::string key, Value value);
  // InvalidArgument on a duplicate or over-long name, ne[0] not a multiple of the block size,
  // too many dims for the type, or an unknown type. `ne` is in ggml order.
  absl::Status AddTensor(std::string name, GgmlType type, std::vector<int64_t> ne);

  struct PlannedTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    uint64_t nbytes;
    uint64_t offset;  // within the data section
  };
  const std::vector<PlannedTensor>& tensors() const { return tensors_; }
  // What AddMetadata accepted, in order ("general.alignment" excluded: Write adds it).
  const std::vector<KeyValue>& metadata() const { return metadata_; }
  uint32_t alignment() const { return alignment_; }

  // Fills `out` with exactly tensor.nbytes bytes of the tensor's data.
  using DataFn =
      std::function<absl::Status(const PlannedTensor& tensor, std::vector<uint8_t>* out)>;

  // Writes header, infos and data to `path` (via a temporary file renamed at the end, so a
  // failure never leaves a truncated file under the final name).
  absl::Status Write(const std::string& path, const DataFn& data) const;

 private:
  uint32_t alignment_;
  std::vector<KeyValue> metadata_;
  std::vector<PlannedTensor> tensors_;
  uint64_t data_size_ = 0;
};

}  // namespace ovid::gguf
