#include "engine/gguf/metadata.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovid::gguf {

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
      return "UINT8";
    case ValueType::kInt8:
      return "INT8";
    case ValueType::kUint16:
      return "UINT16";
    case ValueType::kInt16:
      return "INT16";
    case ValueType::kUint32:
      return "UINT32";
    case ValueType::kInt32:
      return "INT32";
    case ValueType::kFloat32:
      return "FLOAT32";
    case ValueType::kBool:
      return "BOOL";
    case ValueType::kString:
      return "STRING";
    case ValueType::kArray:
      return "ARRAY";
    case ValueType::kUint64:
      return "UINT64";
    case ValueType::kInt64:
      return "INT64";
    case ValueType::kFloat64:
      return "FLOAT64";
  }
  return "(invalid)";
}

bool Value::IsUnsigned() const {
  return type == ValueType::kUint8 || type == ValueType::kUint16 || type == ValueType::kUint32 ||
         type == ValueType::kUint64;
}

bool Value::IsSigned() const {
  return type == ValueType::kInt8 || type == ValueType::kInt16 || type == ValueType::kInt32 ||
         type == ValueType::kInt64;
}

std::string Value::ToString(size_t max_items) const {
  if (IsUnsigned()) return absl::StrCat(std::get<uint64_t>(data));
  if (IsSigned()) return absl::StrCat(std::get<int64_t>(data));
  if (IsFloat()) return absl::StrFormat("%.9g", std::get<double>(data));
  if (type == ValueType::kBool) return std::get<bool>(data) ? "true" : "false";
  if (type == ValueType::kString) {
    const std::string& s = std::get<std::string>(data);
    constexpr size_t kMaxChars = 120;  // tokenizer merges and chat templates can be huge
    if (s.size() <= kMaxChars) return absl::StrCat("\"", s, "\"");
    return absl::StrCat("\"", s.substr(0, kMaxChars), "\"... (", s.size(), " bytes)");
  }
  const Array& arr = std::get<Array>(data);
  std::string out = absl::StrCat("[", ValueTypeName(arr.elem_type), " x ", arr.items.size(), ": ");
  for (size_t i = 0; i < arr.items.size() && i < max_items; ++i) {
    if (i) out += ", ";
    out += arr.items[i].ToString(max_items);
  }
  if (arr.items.size() > max_items) out += ", ...";
  out += "]";
  return out;
}

}  // namespace ovid::gguf
