// File: engine/gguf/gguf_parser.h
// Internal: turns untrusted GGUF bytes into a GgufFile's metadata and tensor infos. Every read is
// bounds-checked; every error names the file, the key or tensor, the byte offset and the problem.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/gguf/gguf_file.h"

namespace ovid::gguf {

class GgufParser {
 public:
  // Fills `file` (whose path_ and bytes_ are already set).
  static absl::Status Parse(GgufFile* file);

 private:
  explicit GgufParser(GgufFile* file) : file_(file), bytes_(file->bytes_) {}

  absl::Status ParseHeader(uint64_t* n_tensors, uint64_t* n_kv);
  absl::Status ParseMetadata(uint64_t n_kv);
  absl::Status ParseAlignment();
  absl::Status ParseTensorInfos(uint64_t n_tensors);
  absl::Status ParseTensorInfo(uint64_t index, TensorInfo* info);
  absl::Status CheckTensorData();

  absl::Status ReadValue(ValueType type, int depth, Value* out);
  absl::Status ReadArray(int depth, Value* out);
  absl::Status ReadString(std::string* out, uint64_t max_len);
  // The same without a copy: `out` points into the file's bytes.
  absl::Status ReadStringView(std::string_view* out, uint64_t max_len);
  absl::Status ReadValueType(ValueType* out);

  // Bounds-checked little-endian reads at pos_ (advance on success).
  absl::Status ReadBytes(void* dst, size_t n, const char* what);
  template <typename T>
  absl::Status Read(T* out, const char* what) {
    return ReadBytes(out, sizeof(T), what);
  }
  absl::Status Charge(uint64_t bytes);
  size_t remaining() const { return bytes_.size() - pos_; }

  // "<file>: <where_> at byte offset <offset>: <problem>"
  absl::Status Error(uint64_t offset, const std::string& problem) const;

  GgufFile* file_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string where_;  // the item being parsed, e.g. "metadata key 'general.name'"
  uint64_t charged_ = 0;
  std::vector<uint64_t> kv_offsets_;  // where each metadata entry starts, for errors
};

}  // namespace ovid::gguf
