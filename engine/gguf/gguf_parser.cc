#include "engine/gguf/gguf_parser.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/gguf/gguf_limits.h"
#include "engine/gguf/status_macros.h"

namespace ovid::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader maps little-endian bytes straight into host integers");

// Smallest encoding of one metadata entry: u64 key length, a 1-byte key, u32 type, 1-byte value.
constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;
// Smallest tensor info: u64 name length (empty name), u32 n_dims (0), u32 type, u64 offset.
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
// What one entry of a name index (std::unordered_map<std::string, size_t>) costs beyond its key's
// characters, roughly: the node (next pointer, the string object, the value, the cached hash),
// the bucket slot and the allocator's rounding. Charged so the parsed-memory cap holds for
// files of millions of tiny entries, where this overhead is most of the memory.
constexpr uint64_t kIndexEntryBytes = 80;

// Keys and names come from untrusted bytes: escape them and keep errors a readable length.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out = absl::StrCat("'", absl::CHexEscape(std::string(s.substr(0, kMaxShown))), "'");
  if (s.size() > kMaxShown) absl::StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

// Bytes that one array element occupies at least, so counts can be checked before allocating.
uint64_t MinEncodedBytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // u64 length
      return 8;
    case ValueType::kArray:  // u32 elem_type + u64 count
      return 12;
  }
  return 1;
}

uint64_t AlignUp(uint64_t x, uint64_t alignment) {
  return x + (alignment - x % alignment) % alignment;
}

}  // namespace

absl::Status GgufParser::Parse(GgufFile* file) {
  GgufParser parser(file);
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  OVID_RETURN_IF_ERROR(parser.ParseHeader(&n_tensors, &n_kv));
  OVID_RETURN_IF_ERROR(parser.ParseMetadata(n_kv));
  OVID_RETURN_IF_ERROR(parser.ParseAlignment());
  OVID_RETURN_IF_ERROR(parser.ParseTensorInfos(n_tensors));
  return parser.CheckTensorData();
}

absl::Status GgufParser::Error(uint64_t offset, const std::string& problem) const {
  return absl::InvalidArgumentError(
      absl::StrCat(file_->path_, ": ", where_, " at byte offset ", offset, ": ", problem));
}

absl::Status GgufParser::ReadBytes(void* dst, size_t n, const char* what) {
  if (n > remaining()) {
    return Error(pos_, absl::StrCat("truncated: ", what, " needs ", n, " bytes but only ",
                                    remaining(), " remain (file size ", bytes_.size(), ")"));
  }
  std::memcpy(dst, bytes_.data() + pos_, n);
  pos_ += n;
  return absl::OkStatus();
}

absl::Status GgufParser::Charge(uint64_t bytes) {
  if (bytes > kMaxParsedBytes - charged_) {
    return absl::ResourceExhaustedError(absl::StrCat(file_->path_, ": ", where_, " at byte offset ",
                                                     pos_,
                                                     ": parsed metadata and tensor infos "
                                                     "would need more than ",
                                                     kMaxParsedBytes, " bytes of memory"));
  }
  charged_ += bytes;
  return absl::OkStatus();
}

absl::Status GgufParser::ParseHeader(uint64_t* n_tensors, uint64_t* n_kv) {
  where_ = "header";
  uint32_t magic = 0;
  OVID_RETURN_IF_ERROR(Read(&magic, "magic"));
  if (magic != kGgufMagic) {
    return Error(0, absl::StrFormat("bad magic 0x%08x (expected the bytes \"GGUF\")", magic));
  }
  uint32_t version = 0;
  OVID_RETURN_IF_ERROR(Read(&version, "version"));
  if (version == 0) return Error(4, "version 0 is invalid");
  if ((version & 0xFFFF) == 0) {
    return Error(4, absl::StrFormat("big-endian GGUF file (version reads as 0x%08x, i.e. %u "
                                    "byte-swapped); ovid reads little-endian GGUF only",
                                    version, __builtin_bswap32(version)));
  }
  if (version == 1) return Error(4, "GGUF version 1 is no longer supported (ovid reads v2, v3)");
  if (version > 3) {
    return Error(4, absl::StrCat("unsupported GGUF version ", version, " (ovid reads v2, v3)"));
  }
  file_->version_ = version;
  OVID_RETURN_IF_ERROR(Read(n_tensors, "tensor count"));
  if (static_cast<int64_t>(*n_tensors) < 0) {
    return Error(8, absl::StrCat("tensor count ", *n_tensors, " is negative as int64"));
  }
  OVID_RETURN_IF_ERROR(Read(n_kv, "metadata count"));
  if (static_cast<int64_t>(*n_kv) < 0) {
    return Error(16, absl::StrCat("metadata count ", *n_kv, " is negative as int64"));
  }
  return absl::OkStatus();
}

absl::Status GgufParser::ParseMetadata(uint64_t n_kv) {
  where_ = "metadata";
  if (n_kv > remaining() / kMinKeyValueBytes) {
    return Error(16, absl::StrCat("metadata count ", n_kv, " cannot fit in the ", remaining(),
                                  " bytes that follow the header"));
  }
  OVID_RETURN_IF_ERROR(Charge(n_kv * sizeof(KeyValue)));
  file_->metadata_.reserve(n_kv);
  kv_offsets_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t kv_offset = pos_;
    where_ = absl::StrCat("metadata entry #", i);
    KeyValue kv;
    OVID_RETURN_IF_ERROR(ReadString(&kv.key, kMaxStringBytes));
    if (kv.key.empty()) return Error(kv_offset, "empty key");
    where_ = absl::StrCat("metadata key ", Quote(kv.key));
    if (auto it = file_->metadata_index_.find(kv.key); it != file_->metadata_index_.end()) {
      return Error(kv_offset, absl::StrCat("duplicate key (first defined at byte offset ",
                                           kv_offsets_[it->second], ")"));
    }
    ValueType type;
    OVID_RETURN_IF_ERROR(ReadValueType(&type));
    OVID_RETURN_IF_ERROR(ReadValue(type, 0, &kv.value));
    OVID_RETURN_IF_ERROR(Charge(kv.key.size() + kIndexEntryBytes + sizeof(uint64_t)));
    file_->metadata_index_.emplace(kv.key, file_->metadata_.size());
    file_->metadata_.push_back(std::move(kv));
    kv_offsets_.push_back(kv_offset);
  }
  return absl::OkStatus();
}

absl::Status GgufParser::ParseAlignment() {
  auto it = file_->metadata_index_.find("general.alignment");
  if (it == file_->metadata_index_.end()) return absl::OkStatus();
  const Value& v = file_->metadata_[it->second].value;
  where_ = "metadata key 'general.alignment'";
  const uint64_t offset = kv_offsets_[it->second];
  if (v.type != ValueType::kUint32) {
    return Error(offset, absl::StrCat("has type ", ValueTypeName(v.type), ", expected UINT32"));
  }
  const uint64_t alignment = std::get<uint64_t>(v.data);
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    return Error(offset, absl::StrCat("alignment ", alignment, " is not a non-zero power of two"));
  }
  if (alignment > kMaxAlignment) {
    return Error(offset, absl::StrCat("alignment ", alignment, " is more than the ", kMaxAlignment,
                                      " bytes ovid accepts (files use 32)"));
  }
  file_->alignment_ = static_cast<uint32_t>(alignment);
  return absl::OkStatus();
}

absl::Status GgufParser::ReadValueType(ValueType* out) {
  const uint64_t offset = pos_;
  uint32_t id = 0;
  OVID_RETURN_IF_ERROR(Read(&id, "value type"));
  if (id >= kValueTypeCount) {
    return Error(offset, absl::StrCat("invalid value type id ", id, " (valid ids are 0..",
                                      kValueTypeCount - 1, ")"));
  }
  *out = static_cast<ValueType>(id);
  return absl::OkStatus();
}

absl::Status GgufParser::ReadStringView(std::string_view* out, uint64_t max_len) {
  const uint64_t offset = pos_;
  uint64_t len = 0;
  OVID_RETURN_IF_ERROR(Read(&len, "string length"));
  if (len > max_len) {
    return Error(offset,
                 absl::StrCat("string length ", len, " exceeds the limit of ", max_len, " bytes"));
  }
  if (len > remaining()) {
    return Error(offset, absl::StrCat("truncated: string of ", len, " bytes but only ", remaining(),
                                      " remain (file size ", bytes_.size(), ")"));
  }
  *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
  pos_ += len;
  return absl::OkStatus();
}

absl::Status GgufParser::ReadString(std::string* out, uint64_t max_len) {
  std::string_view view;
  OVID_RETURN_IF_ERROR(ReadStringView(&view, max_len));
  OVID_RETURN_IF_ERROR(Charge(view.size()));
  out->assign(view.data(), view.size());
  return absl::OkStatus();
}

absl::Status GgufParser::ReadValue(ValueType type, int depth, Value* out) {
  out->type = type;
  switch (type) {
    case ValueType::kUint8: {
      uint8_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "UINT8 value"));
      out->data = uint64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kInt8: {
      int8_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "INT8 value"));
      out->data = int64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kUint16: {
      uint16_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "UINT16 value"));
      out->data = uint64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kInt16: {
      int16_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "INT16 value"));
      out->data = int64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kUint32: {
      uint32_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "UINT32 value"));
      out->data = uint64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kInt32: {
      int32_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "INT32 value"));
      out->data = int64_t{v};
      return absl::OkStatus();
    }
    case ValueType::kFloat32: {
      float v;
      OVID_RETURN_IF_ERROR(Read(&v, "FLOAT32 value"));
      out->data = double{v};
      return absl::OkStatus();
    }
    case ValueType::kBool: {
      // As ggml: the byte is read as int8 and any non-zero value means true.
      uint8_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "BOOL value"));
      out->data = v != 0;
      return absl::OkStatus();
    }
    case ValueType::kString: {
      std::string s;
      OVID_RETURN_IF_ERROR(ReadString(&s, kMaxStringBytes));
      out->data = std::move(s);
      return absl::OkStatus();
    }
    case ValueType::kArray:
      return ReadArray(depth + 1, out);
    case ValueType::kUint64: {
      uint64_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "UINT64 value"));
      out->data = v;
      return absl::OkStatus();
    }
    case ValueType::kInt64: {
      int64_t v;
      OVID_RETURN_IF_ERROR(Read(&v, "INT64 value"));
      out->data = v;
      return absl::OkStatus();
    }
    case ValueType::kFloat64: {
      double v;
      OVID_RETURN_IF_ERROR(Read(&v, "FLOAT64 value"));
      out->data = v;
      return absl::OkStatus();
    }
  }
  return Error(pos_, "invalid value type");  // unreachable: ReadValueType checked the id
}

absl::Status GgufParser::ReadArray(int depth, Value* out) {
  const uint64_t offset = pos_;
  if (depth > kMaxArrayDepth) {
    return Error(offset, absl::StrCat("arrays nested deeper than ", kMaxArrayDepth, " levels"));
  }
  Array array;
  OVID_RETURN_IF_ERROR(ReadValueType(&array.elem_type));
  const uint64_t count_offset = pos_;
  uint64_t count = 0;
  OVID_RETURN_IF_ERROR(Read(&count, "array count"));
  if (count > kMaxArrayElements) {
    return Error(count_offset, absl::StrCat("array count ", count, " exceeds the limit of ",
                                            kMaxArrayElements, " elements"));
  }
  const uint64_t min_bytes = MinEncodedBytes(array.elem_type);
  if (count > remaining() / min_bytes) {
    return Error(count_offset,
                 absl::StrCat("truncated: array of ", count, " ", ValueTypeName(array.elem_type),
                              " elements needs at least ", count * min_bytes, " bytes but only ",
                              remaining(), " remain (file size ", bytes_.size(), ")"));
  }
  OVID_RETURN_IF_ERROR(Charge(count * sizeof(Value)));
  array.items.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    OVID_RETURN_IF_ERROR(ReadValue(array.elem_type, depth, &array.items[i]));
  }
  out->data = std::move(array);
  return absl::OkStatus();
}

absl::Status GgufParser::ParseTensorInfos(uint64_t n_tensors) {
  where_ = "tensor infos";
  if (n_tensors > remaining() / kMinTensorInfoBytes) {
    return Error(8, absl::StrCat("tensor count ", n_tensors, " cannot fit in the ", remaining(),
                                 " bytes that follow the metadata"));
  }
  OVID_RETURN_IF_ERROR(Charge(n_tensors * sizeof(TensorInfo)));
  file_->tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo info;
    OVID_RETURN_IF_ERROR(ParseTensorInfo(i, &info));
    if (auto it = file_->tensor_index_.find(info.name); it != file_->tensor_index_.end()) {
      return Error(info.info_offset,
                   absl::StrCat("duplicate tensor name (first defined at byte offset ",
                                file_->tensors_[it->second].info_offset, ")"));
    }
    OVID_RETURN_IF_ERROR(
        Charge(info.name.size() + kIndexEntryBytes + info.ne.size() * sizeof(int64_t)));
    file_->tensor_index_.emplace(info.name, file_->tensors_.size());
    file_->tensors_.push_back(std::move(info));
  }
  return absl::OkStatus();
}

absl::Status GgufParser::ParseTensorInfo(uint64_t index, TensorInfo* info) {
  info->info_offset = pos_;
  where_ = absl::StrCat("tensor #", index);
  // Look at the name in place (within the string limits) before judging its length, so the
  // error can say which tensor has the over-long name without copying a huge one first.
  std::string_view name;
  OVID_RETURN_IF_ERROR(ReadStringView(&name, kMaxStringBytes));
  where_ = absl::StrCat("tensor ", Quote(name));
  if (name.size() > kMaxNameBytes) {
    return Error(info->info_offset, absl::StrCat("name is ", name.size(), " bytes; at most ",
                                                 kMaxNameBytes, " are allowed"));
  }
  OVID_RETURN_IF_ERROR(Charge(name.size()));
  info->name.assign(name.data(), name.size());
  const uint64_t dims_offset = pos_;
  uint32_t n_dims = 0;
  OVID_RETURN_IF_ERROR(Read(&n_dims, "n_dims"));
  if (n_dims > static_cast<uint32_t>(kMaxDimsPlain)) {
    return Error(dims_offset,
                 absl::StrCat("has ", n_dims, " dims; at most ", kMaxDimsPlain, " are allowed"));
  }
  info->ne.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne_offset = pos_;
    OVID_RETURN_IF_ERROR(Read(&info->ne[d], "dimension"));
    if (info->ne[d] < 0) {
      return Error(ne_offset, absl::StrCat("ne[", d, "] = ", info->ne[d], " is negative"));
    }
  }
  const uint64_t type_offset = pos_;
  uint32_t type_id = 0;
  OVID_RETURN_IF_ERROR(Read(&type_id, "ggml type"));
  const GgmlTypeInfo* type_info = GgmlTypeInfoFor(type_id);
  if (type_info == nullptr) {
    return Error(type_offset, absl::StrCat("unknown ggml type id ", type_id, " (known ids are 0..",
                                           kGgmlTypeCount - 1, ")"));
  }
  if (type_info->block_size == 0) {
    return Error(type_offset,
                 absl::StrCat("ggml type id ", type_id, " was removed from ggml and is invalid"));
  }
  info->type = static_cast<GgmlType>(type_id);
  if (type_info->quantized && n_dims > static_cast<uint32_t>(kMaxDimsQuantized)) {
    return Error(dims_offset, absl::StrCat("has ", n_dims, " dims; quantized type ",
                                           type_info->name, " allows at most ", kMaxDimsQuantized));
  }
  if (n_dims == 0 && type_info->block_size > 1) {
    return Error(dims_offset, absl::StrCat("has no dims (a scalar), which quantized type ",
                                           type_info->name, " cannot hold"));
  }
  const int64_t ne0 = n_dims == 0 ? 1 : info->ne[0];
  if (ne0 % type_info->block_size != 0) {
    return Error(dims_offset, absl::StrCat("ne[0] = ", ne0, " is not a multiple of the ",
                                           type_info->name, " block size ", type_info->block_size));
  }
  int64_t n_elements = 1;
  for (int64_t ne : info->ne) {
    if (__builtin_mul_overflow(n_elements, ne, &n_elements)) {
      return Error(dims_offset, "element count overflows int64");
    }
  }
  info->n_elements = n_elements;
  // n_elements is a multiple of the block size because ne[0] is.
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements / type_info->block_size),
                             static_cast<uint64_t>(type_info->type_size), &nbytes)) {
    return Error(dims_offset, "byte size overflows 64 bits");
  }
  info->nbytes = nbytes;
  const uint64_t offset_offset = pos_;
  OVID_RETURN_IF_ERROR(Read(&info->offset, "data offset"));
  if (info->offset % file_->alignment_ != 0) {
    return Error(offset_offset,
                 absl::StrCat("data offset ", info->offset, " is not a multiple of the alignment ",
                              file_->alignment_));
  }
  return absl::OkStatus();
}

absl::Status GgufParser::CheckTensorData() {
  const uint64_t size = bytes_.size();
  const uint64_t data_start = AlignUp(pos_, file_->alignment_);
  if (file_->tensors_.empty()) {
    // ggml only aligns the data section when there is data; a tensor-less file may end unpadded.
    file_->data_offset_ = std::min(data_start, size);
    return absl::OkStatus();
  }
  if (data_start > size) {
    where_ = "data section";
    return Error(pos_, absl::StrCat("truncated: the data section would start at byte offset ",
                                    data_start, ", past the end of the file (size ", size, ")"));
  }
  file_->data_offset_ = data_start;
  const uint64_t data_size = size - data_start;
  std::vector<size_t> order;
  order.reserve(file_->tensors_.size());
  for (size_t i = 0; i < file_->tensors_.size(); ++i) {
    const TensorInfo& t = file_->tensors_[i];
    where_ = absl::StrCat("tensor ", Quote(t.name));
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      return Error(t.info_offset,
                   absl::StrCat("data [", data_start, " + ", t.offset, ", +", t.nbytes,
                                " bytes) extends past the end of the file (size ", size, ")"));
    }
    // A file written with general.alignment 1, 2 or 4 may place a tensor at an address its
    // scale fields cannot be loaded from in place (undefined behaviour in the CPU decoders).
    const int64_t need = GgmlTypeDataAlignment(t.type);
    if ((data_start + t.offset) % static_cast<uint64_t>(need) != 0) {
      return Error(t.info_offset,
                   absl::StrCat("data starts at byte offset ", data_start + t.offset,
                                ", which is not a multiple of ", need, " (", GgmlTypeName(t.type),
                                " data must be ", need, "-byte aligned; general.alignment is ",
                                file_->alignment_, ")"));
    }
    if (t.nbytes > 0) order.push_back(i);
  }
  // Any order is fine, as long as no two tensors share a byte.
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
    return file_->tensors_[a].offset < file_->tensors_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = file_->tensors_[order[k - 1]];
    const TensorInfo& cur = file_->tensors_[order[k]];
    if (prev.offset + prev.nbytes > cur.offset) {
      where_ = absl::StrCat("tensor ", Quote(cur.name));
      return Error(cur.info_offset,
                   absl::StrCat("data [", data_start + cur.offset, ", ",
                                data_start + cur.offset + cur.nbytes, ") overlaps tensor ",
                                Quote(prev.name), " data [", data_start + prev.offset, ", ",
                                data_start + prev.offset + prev.nbytes, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ovid::gguf
