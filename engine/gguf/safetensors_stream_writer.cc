// File: engine/gguf/safetensors_stream_writer.cc
#include "engine/gguf/safetensors_stream_writer.h"

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/atomic_file.h"
#include "nlohmann/json.hpp"

namespace ovid::gguf {
namespace {

// JSON strings are UTF-8, and names and metadata come from other files (a GGUF's tensor names, a
// pickle's keys, a source path) as arbitrary bytes: nlohmann's dump throws on invalid ones.
bool IsUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace

absl::StatusOr<std::string> SafetensorsHeader(const std::vector<SafetensorsPlan>& tensors,
                                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  // Readers (the Python safetensors package included) expect string values only here.
  for (const auto& [key, value] : metadata) {
    if (!IsUtf8(key) || !IsUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: metadata '",
                                                     absl::CHexEscape(key),
                                                     "' is not valid UTF-8, which JSON needs"));
    }
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsPlan& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "safetensors: a tensor name that is empty, \"__metadata__\" or given twice: '",
          absl::CHexEscape(t.name), "'"));
    }
    if (!IsUtf8(t.name)) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor name '",
                                                     absl::CHexEscape(t.name),
                                                     "' is not valid UTF-8, which JSON needs"));
    }
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(uint64_t{text.size()} >> (8 * i)));
  return out + text;
}

absl::Status WriteSafetensorsStreaming(const std::string& path,
                                       const std::vector<SafetensorsPlan>& tensors,
                                       const std::map<std::string, std::string>& metadata,
                                       const SafetensorsDataFn& data) {
  absl::StatusOr<std::string> header = SafetensorsHeader(tensors, metadata);
  if (!header.ok()) {  // named by the file it was to be written to
    return absl::Status(header.status().code(),
                        absl::StrCat(path, ": ", header.status().message()));
  }
  absl::StatusOr<std::unique_ptr<AtomicFile>> out = AtomicFile::Create(path);
  if (!out.ok()) return out.status();
  AtomicFile& f = **out;  // removed unless committed
  if (absl::Status s = f.Write(header->data(), header->size()); !s.ok()) return s;
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < tensors.size(); ++i) {
    absl::StatusOr<std::span<const uint8_t>> bytes = data(i, &scratch);
    if (!bytes.ok()) return bytes.status();
    if (bytes->size() != tensors[i].nbytes) {
      return absl::InternalError(absl::StrCat(path, ": tensor '", tensors[i].name,
                                              "': ", bytes->size(), " bytes, planned ",
                                              tensors[i].nbytes));
    }
    if (absl::Status s = f.Write(bytes->data(), bytes->size()); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), " (tensor '", tensors[i].name, "')"));
    }
  }
  if (absl::Status s = f.Commit(); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace ovid::gguf
