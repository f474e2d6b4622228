#include "engine/gguf/gguf_file.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_parser.h"
#include "engine/gguf/status_macros.h"

namespace ovid::gguf {

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::Open(path));
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->bytes_ = mapping->bytes();
  file->mapping_ = std::move(mapping);
  OVID_RETURN_IF_ERROR(GgufParser::Parse(file.get()));
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(std::string name,
                                                               std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(name);
  file->bytes_ = bytes;
  OVID_RETURN_IF_ERROR(GgufParser::Parse(file.get()));
  return file;
}

const Value* GgufFile::FindMetadata(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::Status MissingKey(const std::string& path, std::string_view key) {
  return absl::NotFoundError(
      absl::StrCat(path, ": metadata key '", std::string(key), "' is missing"));
}

absl::Status WrongType(const std::string& path, std::string_view key, const char* wanted,
                       const Value& v) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": metadata key '", std::string(key),
                                                 "' has type ", ValueTypeName(v.type),
                                                 ", expected ", wanted));
}

}  // namespace

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const Value* v = FindMetadata(key);
  if (v == nullptr) return MissingKey(path_, key);
  if (v->type != ValueType::kString) return WrongType(path_, key, "STRING", *v);
  return std::get<std::string>(v->data);
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const Value* v = FindMetadata(key);
  if (v == nullptr) return MissingKey(path_, key);
  if (v->IsUnsigned()) return std::get<uint64_t>(v->data);
  if (v->IsSigned()) {
    const int64_t i = std::get<int64_t>(v->data);
    if (i >= 0) return static_cast<uint64_t>(i);
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key '", std::string(key),
                                                   "' is ", i,
                                                   ", expected a non-negative integer"));
  }
  return WrongType(path_, key, "an unsigned integer", *v);
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const Value* v = FindMetadata(key);
  if (v == nullptr) return MissingKey(path_, key);
  if (v->IsSigned()) return std::get<int64_t>(v->data);
  if (v->IsUnsigned()) {
    const uint64_t u = std::get<uint64_t>(v->data);
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(u);
    }
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key '", std::string(key),
                                                   "' is ", u, ", which does not fit int64"));
  }
  return WrongType(path_, key, "an integer", *v);
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const Value* v = FindMetadata(key);
  if (v == nullptr) return MissingKey(path_, key);
  if (!v->IsFloat()) return WrongType(path_, key, "FLOAT32 or FLOAT64", *v);
  return std::get<double>(v->data);
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const Value* v = FindMetadata(key);
  if (v == nullptr) return MissingKey(path_, key);
  if (v->type != ValueType::kBool) return WrongType(path_, key, "BOOL", *v);
  return std::get<bool>(v->data);
}

}  // namespace ovid::gguf
