// File: tests/gguf/gguf_bytes.h
// Crafts GGUF bytes field by field, independently of GgufWriter, so reader tests can build
// exactly the (valid or hostile) layout they need and know the byte offset of every field.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace ovid::gguf::testing {

class GgufBytes {
 public:
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& mutable_bytes() { return bytes_; }

  template <typename T>
  GgufBytes& Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
    return *this;
  }
  GgufBytes& U8(uint8_t v) { return Put(v); }
  GgufBytes& U32(uint32_t v) { return Put(v); }
  GgufBytes& U64(uint64_t v) { return Put(v); }
  GgufBytes& I64(int64_t v) { return Put(v); }
  GgufBytes& Raw(std::string_view s) {
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  GgufBytes& Str(std::string_view s) { return U64(s.size()).Raw(s); }

  GgufBytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF").U32(version).U64(n_tensors).U64(n_kv);
  }
  // key, value type id; the value follows (written by the caller).
  GgufBytes& Key(std::string_view key, uint32_t type) { return Str(key).U32(type); }
  GgufBytes& KvU32(std::string_view key, uint32_t v) { return Key(key, 4).U32(v); }
  GgufBytes& KvStr(std::string_view key, std::string_view v) { return Key(key, 8).Str(v); }
  GgufBytes& TensorInfo(std::string_view name, std::initializer_list<int64_t> ne, uint32_t type,
                        uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) I64(d);
    return U32(type).U64(offset);
  }
  GgufBytes& PadTo(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  GgufBytes& Fill(size_t n, uint8_t byte) {
    bytes_.insert(bytes_.end(), n, byte);
    return *this;
  }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace ovid::gguf::testing
