// File: engine/gguf/mapped_file.h
// A read-only memory mapping of a whole file (the weights are read straight out of the page
// cache; nothing is copied until a tensor is uploaded or converted).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace ovid::gguf {

class MappedFile {
 public:
  // Errors name the path and the failing system call with errno's text.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ovid::gguf
