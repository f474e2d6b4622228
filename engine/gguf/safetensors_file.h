// File: engine/gguf/safetensors_file.h
// A validated, memory-mapped .safetensors file: 8-byte little-endian header length, JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data. Checks: header
// inside the file and valid JSON; known dtypes; shape products that do not overflow and match
// the byte range; ranges inside the data section and not overlapping. Errors name the file, the
// tensor and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/mapped_file.h"

namespace ovid::gguf {

enum class StDtype : uint8_t {
  kF64,
  kF32,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
  kF8E4M3,
  kF8E5M2
};
const char* StDtypeName(StDtype d);  // "F32", "BF16", ...
int StDtypeBytes(StDtype d);

struct SafetensorsTensor {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;  // PyTorch order
  uint64_t begin = 0;          // relative to the data section
  uint64_t end = 0;
  int64_t n_elements = 0;
};

class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBuffer(
      std::string name, std::span<const uint8_t> bytes);

  const std::string& path() const { return path_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // header order
  const SafetensorsTensor* Find(std::string_view name) const;
  std::span<const uint8_t> Data(const SafetensorsTensor& t) const {
    return bytes_.subspan(data_offset_ + t.begin, t.end - t.begin);
  }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> mapping_;
  std::span<const uint8_t> bytes_;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ovid::gguf
