// File: engine/gguf/zip_archive.h
// The index of a ZIP archive held in memory (a mapped file): the central directory, ZIP64
// included (the UMT5 checkpoint is 11 GB, past the 4 GiB a plain ZIP record can describe).
// Only what torch.save writes is supported: entries stored without compression, unencrypted,
// on one disk. A deflated or encrypted entry is listed (so an error can name it) but its data
// is refused. CRCs are not checked: reading 11 GB to verify them would cost more than the
// conversion, and the sizes and offsets are all bounds-checked.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovid::gguf {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 = stored; anything else is refused by Data()
  uint16_t flags = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;    // absolute; valid only for stored, unencrypted entries
  uint64_t record_offset = 0;  // where its central directory record starts (for errors)
};

// True if `bytes` start like a ZIP archive (a local file header or an empty archive's EOCD).
bool LooksLikeZip(std::span<const uint8_t> bytes);

class ZipArchive {
 public:
  // Parses the central directory of `bytes`; `name` (the file path) starts every error, which
  // also gives the byte offset and the record. The bytes must outlive the archive.
  static absl::StatusOr<ZipArchive> Parse(std::string name, std::span<const uint8_t> bytes);

  const std::string& name() const { return name_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(std::string_view entry_name) const;
  // The entry's bytes (a view into the buffer). INVALID_ARGUMENT for a compressed or encrypted
  // entry, naming it and its method.
  absl::StatusOr<std::span<const uint8_t>> Data(const ZipEntry& entry) const;

 private:
  std::string name_;
  std::span<const uint8_t> bytes_;
  std::vector<ZipEntry> entries_;
};

}  // namespace ovid::gguf
