#include "engine/gguf/gguf_writer.h"

#include <bit>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/gguf/atomic_file.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_limits.h"
#include "engine/gguf/status_macros.h"

namespace ovid::gguf {
namespace {

constexpr uint32_t kWrittenVersion = 3;
constexpr char kAlignmentKey[] = "general.alignment";

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void PutString(std::string* out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

// Checks that a Value holds what its type says (and fits it), recursively, so that what the
// writer emits is exactly what the reader will return.
absl::Status CheckValue(const Value& v, int depth, const std::string& key) {
  auto bad = [&](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GgufWriter: metadata key '", key, "': ", ValueTypeName(v.type), " value ", problem));
  };
  auto check_range = [&](auto lo, auto hi) -> absl::Status {
    using T = decltype(lo);
    if (!std::holds_alternative<T>(v.data)) return bad("holds the wrong C++ alternative");
    const T x = std::get<T>(v.data);
    if (x < lo || x > hi) return bad(absl::StrCat(x, " is out of range"));
    return absl::OkStatus();
  };
  switch (v.type) {
    case ValueType::kUint8:
      return check_range(uint64_t{0}, uint64_t{0xFF});
    case ValueType::kUint16:
      return check_range(uint64_t{0}, uint64_t{0xFFFF});
    case ValueType::kUint32:
      return check_range(uint64_t{0}, uint64_t{0xFFFFFFFF});
    case ValueType::kUint64:
      return check_range(uint64_t{0}, ~uint64_t{0});
    case ValueType::kInt8:
      return check_range(int64_t{-128}, int64_t{127});
    case ValueType::kInt16:
      return check_range(int64_t{-32768}, int64_t{32767});
    case ValueType::kInt32:
      return check_range(int64_t{INT32_MIN}, int64_t{INT32_MAX});
    case ValueType::kInt64:
      return check_range(int64_t{INT64_MIN}, int64_t{INT64_MAX});
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      if (!std::holds_alternative<double>(v.data)) return bad("holds the wrong C++ alternative");
      return absl::OkStatus();
    case ValueType::kBool:
      if (!std::holds_alternative<bool>(v.data)) return bad("holds the wrong C++ alternative");
      return absl::OkStatus();
    case ValueType::kString:
      if (!std::holds_alternative<std::string>(v.data)) {
        return bad("holds the wrong C++ alternative");
      }
      if (std::get<std::string>(v.data).size() > kMaxStringBytes) return bad("is too long");
      return absl::OkStatus();
    case ValueType::kArray: {
      if (!std::holds_alternative<Array>(v.data)) return bad("holds the wrong C++ alternative");
      if (depth + 1 > kMaxArrayDepth) {
        return bad(absl::StrCat("nests deeper than ", kMaxArrayDepth, " levels"));
      }
      const Array& a = std::get<Array>(v.data);
      if (static_cast<uint32_t>(a.elem_type) >= kValueTypeCount) return bad("has a bad elem_type");
      if (a.items.size() > kMaxArrayElements) return bad("has too many items");
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (a.items[i].type != a.elem_type) {
          return bad(absl::StrCat("item ", i, " has type ", ValueTypeName(a.items[i].type),
                                  " but the array's elem_type is ", ValueTypeName(a.elem_type)));
        }
        OVID_RETURN_IF_ERROR(CheckValue(a.items[i], depth + 1, key));
      }
      return absl::OkStatus();
    }
  }
  return bad("has an invalid type id");
}

// The value's encoding without its leading type id (arrays: elem_type, count, items).
void PutValue(std::string* out, const Value& v) {
  switch (v.type) {
    case ValueType::kUint8:
      Put<uint8_t>(out, std::get<uint64_t>(v.data));
      return;
    case ValueType::kInt8:
      Put<int8_t>(out, std::get<int64_t>(v.data));
      return;
    case ValueType::kUint16:
      Put<uint16_t>(out, std::get<uint64_t>(v.data));
      return;
    case ValueType::kInt16:
      Put<int16_t>(out, std::get<int64_t>(v.data));
      return;
    case ValueType::kUint32:
      Put<uint32_t>(out, std::get<uint64_t>(v.data));
      return;
    case ValueType::kInt32:
      Put<int32_t>(out, std::get<int64_t>(v.data));
      return;
    case ValueType::kFloat32:
      Put<float>(out, std::get<double>(v.data));
      return;
    case ValueType::kBool:
      Put<uint8_t>(out, std::get<bool>(v.data) ? 1 : 0);
      return;
    case ValueType::kString:
      PutString(out, std::get<std::string>(v.data));
      return;
    case ValueType::kUint64:
      Put<uint64_t>(out, std::get<uint64_t>(v.data));
      return;
    case ValueType::kInt64:
      Put<int64_t>(out, std::get<int64_t>(v.data));
      return;
    case ValueType::kFloat64:
      Put<double>(out, std::get<double>(v.data));
      return;
    case ValueType::kArray: {
      const Array& a = std::get<Array>(v.data);
      Put<uint32_t>(out, static_cast<uint32_t>(a.elem_type));
      Put<uint64_t>(out, a.items.size());
      for (const Value& item : a.items) PutValue(out, item);
      return;
    }
  }
}

uint64_t AlignUp(uint64_t x, uint64_t alignment) {
  return x + (alignment - x % alignment) % alignment;
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {}

absl::Status GgufWriter::AddMetadata(std::string key, Value value) {
  if (key.empty()) return absl::InvalidArgumentError("GgufWriter: empty metadata key");
  if (key == kAlignmentKey) {
    return absl::InvalidArgumentError(
        "GgufWriter: metadata key 'general.alignment' is set by the writer (constructor argument)");
  }
  for (const KeyValue& kv : metadata_) {
    if (kv.key == key) {
      return absl::InvalidArgumentError(
          absl::StrCat("GgufWriter: duplicate metadata key '", key, "'"));
    }
  }
  OVID_RETURN_IF_ERROR(CheckValue(value, 0, key));
  metadata_.push_back({std::move(key), std::move(value)});
  return absl::OkStatus();
}

absl::Status GgufWriter::AddTensor(std::string name, GgmlType type, std::vector<int64_t> ne) {
  auto bad = [&](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat("GgufWriter: tensor '", name, "': ", problem));
  };
  if (name.size() > kMaxNameBytes) {
    return bad(absl::StrCat("name is ", name.size(), " bytes; at most ", kMaxNameBytes));
  }
  for (const PlannedTensor& t : tensors_) {
    if (t.name == name) return bad("duplicate tensor name");
  }
  const GgmlTypeInfo* info = GgmlTypeInfoFor(static_cast<uint32_t>(type));
  if (info == nullptr || info->block_size == 0) {
    return bad(absl::StrCat("invalid ggml type id ", static_cast<uint32_t>(type)));
  }
  const size_t max_dims = info->quantized ? kMaxDimsQuantized : kMaxDimsPlain;
  if (ne.size() > max_dims) {
    return bad(absl::StrCat(ne.size(), " dims; type ", info->name, " allows at most ", max_dims));
  }
  int64_t n_elements = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 0) return bad(absl::StrCat("ne[", d, "] = ", ne[d], " is negative"));
    if (__builtin_mul_overflow(n_elements, ne[d], &n_elements)) {
      return bad("element count overflows int64");
    }
  }
  const int64_t ne0 = ne.empty() ? 1 : ne[0];
  if (ne0 % info->block_size != 0) {
    return bad(absl::StrCat("ne[0] = ", ne0, " is not a multiple of the ", info->name,
                            " block size ", info->block_size));
  }
  uint64_t nbytes = 0;
  uint64_t end = 0;
  const uint64_t offset = AlignUp(data_size_, alignment_ == 0 ? 1 : alignment_);
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements / info->block_size),
                             static_cast<uint64_t>(info->type_size), &nbytes) ||
      __builtin_add_overflow(offset, nbytes, &end)) {
    return bad("byte size overflows 64 bits");
  }
  tensors_.push_back({std::move(name), type, std::move(ne), nbytes, offset});
  data_size_ = end;
  return absl::OkStatus();
}

absl::Status GgufWriter::Write(const std::string& path, const DataFn& data) const {
  if (alignment_ == 0 || !std::has_single_bit(alignment_) || alignment_ > kMaxAlignment) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": GgufWriter alignment ", alignment_,
                                                   " is not a power of two in 1..", kMaxAlignment));
  }
  if (!data && !tensors_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": GgufWriter::Write needs a data callback for its tensors"));
  }
  const bool write_alignment = alignment_ != kDefaultAlignment;
  std::string header;
  Put<uint32_t>(&header, kGgufMagic);
  Put<uint32_t>(&header, kWrittenVersion);
  Put<uint64_t>(&header, tensors_.size());
  Put<uint64_t>(&header, metadata_.size() + (write_alignment ? 1 : 0));
  if (write_alignment) {
    PutString(&header, kAlignmentKey);
    Put<uint32_t>(&header, static_cast<uint32_t>(ValueType::kUint32));
    Put<uint32_t>(&header, alignment_);
  }
  for (const KeyValue& kv : metadata_) {
    PutString(&header, kv.key);
    Put<uint32_t>(&header, static_cast<uint32_t>(kv.value.type));
    PutValue(&header, kv.value);
  }
  for (const PlannedTensor& t : tensors_) {
    PutString(&header, t.name);
    Put<uint32_t>(&header, static_cast<uint32_t>(t.ne.size()));
    for (int64_t ne : t.ne) Put<int64_t>(&header, ne);
    Put<uint32_t>(&header, static_cast<uint32_t>(t.type));
    Put<uint64_t>(&header, t.offset);
  }
  header.resize(AlignUp(header.size(), alignment_), '\0');

  // Written next to the destination and renamed at the end (AtomicFile).
  absl::StatusOr<std::unique_ptr<AtomicFile>> out = AtomicFile::Create(path);
  if (!out.ok()) return out.status();
  AtomicFile& f = **out;
  if (absl::Status s = f.Write(header.data(), header.size()); !s.ok()) return s;
  std::vector<uint8_t> buf;
  const std::vector<uint8_t> zeros(alignment_, 0);
  uint64_t written = 0;  // bytes of the data section so far
  for (const PlannedTensor& t : tensors_) {
    buf.clear();
    if (absl::Status s = data(t, &buf); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ": tensor '", t.name,
                                                 "': data callback failed: ", s.message()));
    }
    if (buf.size() != t.nbytes) {
      return absl::InternalError(absl::StrCat(path, ": tensor '", t.name,
                                              "': data callback produced ", buf.size(),
                                              " bytes, expected ", t.nbytes));
    }
    if (absl::Status s = f.Write(zeros.data(), t.offset - written); !s.ok()) return s;
    if (absl::Status s = f.Write(buf.data(), buf.size()); !s.ok()) return s;
    written = t.offset + t.nbytes;
  }
  // Pad after the last tensor too, as ggml and gguf-py do.
  if (absl::Status s = f.Write(zeros.data(), AlignUp(written, alignment_) - written); !s.ok()) {
    return s;
  }
  return f.Commit();
}

}  // namespace ovid::gguf
