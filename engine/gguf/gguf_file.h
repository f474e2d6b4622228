// File: engine/gguf/gguf_file.h
// A validated, memory-mapped GGUF file (v2 or v3, little-endian).
//
// Open() checks what ggml's gguf_init_from_reader checks (shared spec ggml.md §1.2), with three
// deliberate differences: nested arrays are accepted; unquantized tensors may have up to 8 dims
// (Ovi's Conv3d patch embedding is stored with 5), quantized ones up to 4; tensor data may be in
// any order as long as each tensor is aligned, inside the file and overlaps no other. Also:
// ne[0] divisible by the block size, no size overflow, names <= 63 bytes, no duplicate keys or
// names, big-endian files refused by name. Every failure is an absl::Status naming the file,
// the key or tensor, the byte offset and the problem. Nothing reads out of bounds, whatever
// the bytes.
//
// Status codes: InvalidArgument for anything wrong in the bytes (truncation included);
// ResourceExhausted when the parsed metadata would exceed kMaxParsedBytes (gguf_limits.h);
// NotFound / PermissionDenied / Unavailable from opening and mapping the file.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/mapped_file.h"
#include "engine/gguf/metadata.h"
#include "kernels/ggml_types.h"

namespace ovid::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr size_t kMaxNameBytes = 63;
inline constexpr int kMaxDimsQuantized = 4;
inline constexpr int kMaxDimsPlain = 8;

struct TensorInfo {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous dimension
  uint64_t offset = 0;      // relative to the data section
  uint64_t nbytes = 0;
  int64_t n_elements = 0;
  uint64_t info_offset = 0;  // where this tensor's info record starts in the file (for errors)

  // PyTorch/NumPy order: reversed(ne).
  std::vector<int64_t> TorchShape() const { return {ne.rbegin(), ne.rend()}; }
  int64_t RowElements() const { return ne.empty() ? 1 : ne[0]; }
  // A 0-dim tensor (a scalar) is one row of one element.
  int64_t Rows() const { return ne.empty() ? 1 : ne[0] == 0 ? 0 : n_elements / ne[0]; }
};

class GgufFile {
 public:
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes already in memory (tests, the fuzzer). `name` stands for the path in errors.
  // The buffer must outlive the returned object.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBuffer(std::string name,
                                                              std::span<const uint8_t> bytes);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* FindMetadata(std::string_view key) const;
  // Typed accessors: NotFound if absent, InvalidArgument (naming key, wanted and actual type)
  // if the type differs. Integers accept any integer type whose value fits.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this object lives).
  std::span<const uint8_t> TensorData(const TensorInfo& t) const {
    return bytes_.subspan(data_offset_ + t.offset, t.nbytes);
  }

 private:
  GgufFile() = default;
  friend class GgufParser;

  std::string path_;
  std::unique_ptr<MappedFile> mapping_;  // null for FromBuffer
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace ovid::gguf
