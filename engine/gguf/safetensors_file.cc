#include "engine/gguf/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"

namespace ovid::gguf {
namespace {

// The safetensors format caps the JSON header at 100 MB; a larger claim is a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

struct DtypeEntry {
  const char* name;
  StDtype dtype;
  int bytes;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", StDtype::kF64, 8},   {"F32", StDtype::kF32, 4},        {"F16", StDtype::kF16, 2},
    {"BF16", StDtype::kBF16, 2}, {"I64", StDtype::kI64, 8},        {"I32", StDtype::kI32, 4},
    {"I16", StDtype::kI16, 2},   {"I8", StDtype::kI8, 1},          {"U8", StDtype::kU8, 1},
    {"BOOL", StDtype::kBool, 1}, {"F8_E4M3", StDtype::kF8E4M3, 1}, {"F8_E5M2", StDtype::kF8E5M2, 1},
};

const DtypeEntry* FindDtype(std::string_view name) {
  for (const DtypeEntry& e : kDtypes) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

using Json = nlohmann::ordered_json;  // keeps the header's tensor order

// A real header nests 3 levels deep. nlohmann's parser recurses once per level, so a hostile
// "[[[[..." header could exhaust the stack: bound the depth before parsing.
constexpr int kMaxJsonDepth = 32;

// The first byte offset (relative to `json`) where nesting exceeds kMaxJsonDepth, or -1.
int64_t TooDeepAt(std::string_view json) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return static_cast<int64_t>(i);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return -1;
}

// For error messages: never throws, even on strings that are not UTF-8.
std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

class Parser {
 public:
  Parser(const std::string& path, std::span<const uint8_t> bytes) : path_(path), bytes_(bytes) {}

  absl::Status Parse(uint64_t* data_offset, std::vector<SafetensorsTensor>* tensors,
                     std::map<std::string, std::string>* metadata) {
    if (bytes_.size() < 8) {
      return Error(absl::StrCat("file is ", bytes_.size(),
                                " bytes, too short for the 8-byte header length"));
    }
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes_.data(), 8);
    if (header_len > kMaxHeaderBytes) {
      return Error(absl::StrCat("header length ", header_len, " at byte offset 0 exceeds the ",
                                kMaxHeaderBytes, "-byte limit"));
    }
    if (header_len > bytes_.size() - 8) {
      return Error(absl::StrCat("header length ", header_len,
                                " at byte offset 0 runs past the end of the file (size ",
                                bytes_.size(), ")"));
    }
    *data_offset = 8 + header_len;
    const char* begin = reinterpret_cast<const char*>(bytes_.data() + 8);
    // nlohmann's no-exception overload loses the error position; the exception is caught here
    // and never leaves this function.
    if (const int64_t at = TooDeepAt(std::string_view(begin, header_len)); at >= 0) {
      return Error(absl::StrCat("header JSON nests deeper than ", kMaxJsonDepth,
                                " levels at byte offset ", 8 + at));
    }
    Json header;
    // JSON allows a key twice and the parser keeps one of them silently: a header naming a
    // tensor twice is ambiguous (readers differ in which they take), so it is refused.
    std::set<std::string> top_keys;
    std::optional<std::string> twice;
    const Json::parser_callback_t note_keys = [&](int depth, Json::parse_event_t event,
                                                  Json& parsed) {
      if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string() &&
          !top_keys.insert(parsed.get<std::string>()).second && !twice) {
        twice = parsed.get<std::string>();
      }
      return true;
    };
    try {
      header = Json::parse(begin, begin + header_len, note_keys);
    } catch (const Json::parse_error& e) {
      return Error(
          absl::StrCat("header is not valid JSON (near byte offset ", 8 + e.byte, "): ", e.what()));
    } catch (const Json::exception& e) {
      // e.g. out_of_range for a number literal beyond double's range (found by the fuzzer).
      return Error(absl::StrCat("header is not valid JSON: ", e.what()));
    }
    if (!header.is_object()) return Error("header is not a JSON object");
    if (twice) return Error(absl::StrCat("header names '", *twice, "' twice"));
    const uint64_t data_size = bytes_.size() - *data_offset;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == kMetadataKey) {
        OVID_RETURN_IF_ERROR(ParseMetadata(it.value(), metadata));
        continue;
      }
      SafetensorsTensor t;
      t.name = it.key();
      OVID_RETURN_IF_ERROR(ParseTensor(it.value(), data_size, &t));
      tensors->push_back(std::move(t));
    }
    return CheckOverlaps(*tensors);
  }

 private:
  absl::Status Error(const std::string& problem) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", problem));
  }
  absl::Status TensorError(const std::string& name, const std::string& problem) const {
    return Error(absl::StrCat("tensor '", name, "': ", problem));
  }

  absl::Status ParseMetadata(const Json& j, std::map<std::string, std::string>* metadata) {
    if (!j.is_object()) return Error("__metadata__ is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.value().is_string()) {
        return Error(absl::StrCat("__metadata__ key '", it.key(), "' is not a string"));
      }
      (*metadata)[it.key()] = it.value().get<std::string>();
    }
    return absl::OkStatus();
  }

  absl::Status ParseTensor(const Json& j, uint64_t data_size, SafetensorsTensor* t) {
    if (!j.is_object()) return TensorError(t->name, "entry is not a JSON object");
    auto dtype_it = j.find("dtype");
    if (dtype_it == j.end() || !dtype_it->is_string()) {
      return TensorError(t->name, "missing or non-string \"dtype\"");
    }
    const std::string dtype_name = dtype_it->get<std::string>();
    const DtypeEntry* dtype = FindDtype(dtype_name);
    if (dtype == nullptr)
      return TensorError(t->name, absl::StrCat("unknown dtype '", dtype_name, "'"));
    t->dtype = dtype->dtype;
    auto shape_it = j.find("shape");
    if (shape_it == j.end() || !shape_it->is_array()) {
      return TensorError(t->name, "missing or non-array \"shape\"");
    }
    int64_t n = 1;
    for (const Json& d : *shape_it) {
      if (!d.is_number_unsigned()) {
        return TensorError(
            t->name, absl::StrCat("shape entry ", DumpJson(d), " is not a non-negative integer"));
      }
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(n, static_cast<int64_t>(dim), &n)) {
        return TensorError(t->name, "shape's element count overflows int64");
      }
      t->shape.push_back(static_cast<int64_t>(dim));
    }
    t->n_elements = n;
    auto offsets_it = j.find("data_offsets");
    if (offsets_it == j.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      return TensorError(t->name, "\"data_offsets\" is not a pair of non-negative integers");
    }
    t->begin = (*offsets_it)[0].get<uint64_t>();
    t->end = (*offsets_it)[1].get<uint64_t>();
    if (t->begin > t->end || t->end > data_size) {
      return TensorError(
          t->name, absl::StrCat("data_offsets [", t->begin, ", ", t->end,
                                ") are not a range inside the ", data_size, "-byte data section"));
    }
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n), static_cast<uint64_t>(dtype->bytes),
                               &expected) ||
        expected != t->end - t->begin) {
      return TensorError(t->name, absl::StrCat("shape ", DumpJson(*shape_it), " of ", dtype_name,
                                               " needs ", n, " x ", dtype->bytes,
                                               " bytes but data_offsets span ", t->end - t->begin));
    }
    return absl::OkStatus();
  }

  absl::Status CheckOverlaps(const std::vector<SafetensorsTensor>& tensors) const {
    std::vector<const SafetensorsTensor*> order;
    for (const SafetensorsTensor& t : tensors) {
      if (t.end > t.begin) order.push_back(&t);
    }
    std::sort(order.begin(), order.end(),
              [](const auto* a, const auto* b) { return a->begin < b->begin; });
    for (size_t k = 1; k < order.size(); ++k) {
      if (order[k - 1]->end > order[k]->begin) {
        return TensorError(order[k]->name,
                           absl::StrCat("data [", order[k]->begin, ", ", order[k]->end,
                                        ") overlaps tensor '", order[k - 1]->name, "' [",
                                        order[k - 1]->begin, ", ", order[k - 1]->end, ")"));
      }
    }
    return absl::OkStatus();
  }

  const std::string& path_;
  std::span<const uint8_t> bytes_;
};

}  // namespace

const char* StDtypeName(StDtype d) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == d) return e.name;
  }
  return "(invalid)";
}

int StDtypeBytes(StDtype d) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == d) return e.bytes;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::Open(path));
  const std::span<const uint8_t> bytes = mapping->bytes();
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, FromBuffer(path, bytes));
  file->mapping_ = std::move(mapping);
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBuffer(
    std::string name, std::span<const uint8_t> bytes) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = std::move(name);
  file->bytes_ = bytes;
  Parser parser(file->path_, bytes);
  OVID_RETURN_IF_ERROR(parser.Parse(&file->data_offset_, &file->tensors_, &file->metadata_));
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    file->index_.emplace(file->tensors_[i].name, i);
  }
  return file;
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace ovid::gguf
