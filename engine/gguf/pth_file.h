// File: engine/gguf/pth_file.h
// A PyTorch checkpoint written by torch.save (the zip format, torch >= 1.6), read without
// PyTorch: a memory-mapped zip holding <archive>/data.pkl (the object tree, read by the
// restricted unpickler in pickle_reader.h), <archive>/data/<key> (one raw storage per key),
// <archive>/byteorder ("little"; big-endian files are refused) and <archive>/version. Tensors
// are views into the mapping; only a non-contiguous one is copied, on request (Contiguous).
// The legacy pre-1.6 format (a bare pickle stream) is recognised and refused by name.
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
#include "engine/gguf/pickle_reader.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/gguf/zip_archive.h"

namespace ovid::gguf {

struct PthTensor {
  std::string name;  // the state-dict key under the selection, "conv_pre.weight"
  StDtype dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;      // in elements
  int64_t storage_offset = 0;        // in elements
  std::string storage_key;           // "3": the record <archive>/data/3
  std::span<const uint8_t> storage;  // the whole storage (a view into the mapping)
  int64_t numel = 0;

  uint64_t nbytes() const { return static_cast<uint64_t>(numel) * StDtypeBytes(dtype); }
  // Row-major with no gaps (dims of size 1 may have any stride).
  bool contiguous() const;
};

// True if `bytes` begin like a zip archive, the container of every torch.save since 1.6.
bool LooksLikePth(std::span<const uint8_t> bytes);
// True if `bytes` (at least the first 262) begin like the pre-1.6 torch.save formats (a bare
// pickle stream starting with torch's magic number, or a tar archive), which PthFile recognises
// only to refuse by name.
bool LooksLikeLegacyTorchSave(std::span<const uint8_t> bytes);

class PthFile {
 public:
  static absl::StatusOr<std::unique_ptr<PthFile>> Open(const std::string& path);
  // `name` stands for the path in errors; `bytes` must outlive the object.
  static absl::StatusOr<std::unique_ptr<PthFile>> FromBuffer(std::string name,
                                                             std::span<const uint8_t> bytes);

  const std::string& path() const { return path_; }
  const std::string& archive() const { return archive_; }  // the records' directory name
  const PickleNode* root() const { return tree_.root; }

  // The tensors under `select` (a dotted path of dict keys, "generator"; empty for the top
  // level), named by their dotted path below it. Nested dicts, lists and tuples are flattened
  // ("blocks.0.weight"); non-tensor leaves (numbers, strings, None) are skipped and counted in
  // `*skipped` when given. Errors name the file and the key: a missing selection (listing the
  // keys there are), an unsupported object under the selection (naming its global), a tensor
  // of a dtype ovid does not read, and, for the top level only, tensors nested under several
  // keys (listing them with their tensor counts, so the user picks one with --select).
  absl::StatusOr<std::vector<PthTensor>> Tensors(std::string_view select,
                                                 size_t* skipped = nullptr) const;

  // The tensor's bytes in row-major order: a view into the mapping when it is contiguous,
  // otherwise gathered into `*scratch`.
  static std::span<const uint8_t> Contiguous(const PthTensor& t, std::vector<uint8_t>* scratch);

 private:
  PthFile() = default;
  absl::Status Load();

  std::string path_;
  std::unique_ptr<MappedFile> mapping_;
  std::span<const uint8_t> bytes_;
  std::unique_ptr<ZipArchive> zip_;
  std::string archive_;
  PickleTree tree_;
  std::map<std::string, std::span<const uint8_t>> storage_bytes_;  // key -> data/<key>
};

}  // namespace ovid::gguf
