// File: engine/gguf/metadata.h
// A GGUF metadata value: one of the 13 GGUF value types, arrays nested to any depth.
// Shared by the reader (what a file holds) and the writer (what to put in one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ovid::gguf {

// GGUF's on-disk value type ids.
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;
const char* ValueTypeName(ValueType t);  // "UINT8", ..., "FLOAT64"

struct Value;

struct Array {
  ValueType elem_type = ValueType::kUint8;
  std::vector<Value> items;  // each item has type elem_type (nested: kArray items)

  friend bool operator==(const Array&, const Array&) = default;
};

struct Value {
  ValueType type = ValueType::kUint8;
  // uint64 holds every unsigned type, int64 every signed type, double both floats.
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  static Value U8(uint8_t v) { return {ValueType::kUint8, uint64_t{v}}; }
  static Value I8(int8_t v) { return {ValueType::kInt8, int64_t{v}}; }
  static Value U16(uint16_t v) { return {ValueType::kUint16, uint64_t{v}}; }
  static Value I16(int16_t v) { return {ValueType::kInt16, int64_t{v}}; }
  static Value U32(uint32_t v) { return {ValueType::kUint32, uint64_t{v}}; }
  static Value I32(int32_t v) { return {ValueType::kInt32, int64_t{v}}; }
  static Value F32(float v) { return {ValueType::kFloat32, double{v}}; }
  static Value Bool(bool v) { return {ValueType::kBool, v}; }
  static Value Str(std::string v) { return {ValueType::kString, std::move(v)}; }
  static Value U64(uint64_t v) { return {ValueType::kUint64, v}; }
  static Value I64(int64_t v) { return {ValueType::kInt64, v}; }
  static Value F64(double v) { return {ValueType::kFloat64, v}; }
  static Value Arr(ValueType elem_type, std::vector<Value> items) {
    return {ValueType::kArray, Array{elem_type, std::move(items)}};
  }

  bool IsUnsigned() const;
  bool IsSigned() const;
  bool IsFloat() const { return type == ValueType::kFloat32 || type == ValueType::kFloat64; }
  // Human-readable rendering for `ovid-gguf inspect` (long arrays are elided after max_items).
  std::string ToString(size_t max_items = 8) const;

  // Same type and same value (floats compare as doubles, so NaN != NaN).
  friend bool operator==(const Value&, const Value&) = default;
};

struct KeyValue {
  std::string key;
  Value value;
};

}  // namespace ovid::gguf
