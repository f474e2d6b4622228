// File: engine/gguf/zip_archive.cc
// ZIP facts used here (APPNOTE.TXT 6.3): end of central directory (EOCD) record, signature
// PK\5\6, 22 bytes plus a comment of up to 65535 bytes, at the end of the file; a ZIP64 EOCD
// locator (PK\6\7, 20 bytes) right before it points at the ZIP64 EOCD record (PK\6\6); central
// directory records (PK\1\2, 46 bytes + name + extra + comment); local file headers (PK\3\4, 30
// bytes + name + extra, then the data). A 32-bit field set to 0xFFFFFFFF (16-bit 0xFFFF for
// counts) means "see the ZIP64 extra field" (id 0x0001), which holds, in this order and only for
// the fields so marked, the uncompressed size, compressed size and local header offset.
#include "engine/gguf/zip_archive.h"

#include "absl/strings/str_cat.h"

namespace ovid::gguf {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kLocatorSize = 20;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;
constexpr uint32_t kFull32 = 0xffffffffu;
constexpr uint16_t kFull16 = 0xffffu;
constexpr uint16_t kZip64ExtraId = 0x0001;

uint64_t Le(std::span<const uint8_t> b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[at + i];
  return v;
}

// Reads fixed-size fields at absolute offsets; the caller has checked the range.
struct Reader {
  std::span<const uint8_t> b;
  uint16_t U16(uint64_t at) const { return static_cast<uint16_t>(Le(b, at, 2)); }
  uint32_t U32(uint64_t at) const { return static_cast<uint32_t>(Le(b, at, 4)); }
  uint64_t U64(uint64_t at) const { return Le(b, at, 8); }
};

bool Fits(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

bool LooksLikeZip(std::span<const uint8_t> bytes) {
  if (bytes.size() < 4) return false;
  const uint32_t sig = static_cast<uint32_t>(Le(bytes, 0, 4));
  return sig == kLocalSig || sig == kEocdSig;
}

absl::StatusOr<ZipArchive> ZipArchive::Parse(std::string name, std::span<const uint8_t> bytes) {
  const Reader r{bytes};
  const uint64_t size = bytes.size();
  auto error = [&](uint64_t at, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": zip: ", what, " (at byte ", at, ")"));
  };
  if (size < kEocdSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": zip: ", size, " bytes is too short to be a zip archive (truncated?)"));
  }
  // The EOCD is the last PK\5\6 whose comment length reaches exactly the end of the file.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size >= kEocdSize + 0xffff ? size - kEocdSize - 0xffff : 0;
  for (uint64_t at = size - kEocdSize + 1; at-- > lowest;) {
    if (r.U32(at) == kEocdSig && at + kEocdSize + r.U16(at + 20) == size) {
      eocd = at;
      break;
    }
  }
  if (eocd == UINT64_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(name,
                     ": zip: no end-of-central-directory record in the last 64 KiB (the file is "
                     "truncated or not a zip archive)"));
  }
  if (r.U16(eocd + 4) != 0 || r.U16(eocd + 6) != 0) {
    return error(eocd, "multi-disk archives are not supported");
  }
  uint64_t count = r.U16(eocd + 10);
  uint64_t cd_size = r.U32(eocd + 12);
  uint64_t cd_offset = r.U32(eocd + 16);
  const bool has_locator = eocd >= kLocatorSize && r.U32(eocd - kLocatorSize) == kZip64LocatorSig;
  if (has_locator) {
    const uint64_t locator = eocd - kLocatorSize;
    const uint64_t z = r.U64(locator + 8);
    if (!Fits(z, kZip64EocdSize, locator) || r.U32(z) != kZip64EocdSig) {
      return error(locator, absl::StrCat("the ZIP64 locator points at byte ", z,
                                         ", where there is no ZIP64 end-of-central-directory "
                                         "record"));
    }
    count = r.U64(z + 32);
    cd_size = r.U64(z + 40);
    cd_offset = r.U64(z + 48);
  } else if (count == kFull16 || cd_size == kFull32 || cd_offset == kFull32) {
    return error(eocd,
                 "the end-of-central-directory record defers to ZIP64, but there is no "
                 "ZIP64 locator");
  }
  if (!Fits(cd_offset, cd_size, size)) {
    return error(eocd, absl::StrCat("the central directory (", cd_size, " bytes at ", cd_offset,
                                    ") lies outside the ", size, "-byte file (truncated?)"));
  }
  // Each record takes at least 46 bytes, which bounds the count before anything is reserved.
  if (count > cd_size / kCentralSize) {
    return error(eocd,
                 absl::StrCat(count, " entries cannot fit a ", cd_size, "-byte central directory"));
  }
  ZipArchive archive;
  archive.name_ = name;
  archive.bytes_ = bytes;
  archive.entries_.reserve(count);
  const uint64_t cd_end = cd_offset + cd_size;
  uint64_t at = cd_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (!Fits(at, kCentralSize, cd_end) || r.U32(at) != kCentralSig) {
      return error(at, absl::StrCat("central directory record ", i, " of ", count,
                                    " is missing or has a bad signature"));
    }
    ZipEntry e;
    e.record_offset = at;
    e.flags = r.U16(at + 8);
    e.method = r.U16(at + 10);
    e.compressed_size = r.U32(at + 20);
    e.size = r.U32(at + 24);
    const uint16_t name_len = r.U16(at + 28);
    const uint16_t extra_len = r.U16(at + 30);
    const uint16_t comment_len = r.U16(at + 32);
    e.local_header_offset = r.U32(at + 42);
    const uint64_t record_len = kCentralSize + name_len + extra_len + comment_len;
    if (!Fits(at, record_len, cd_end)) {
      return error(
          at, absl::StrCat("central directory record ", i, " runs past the end of the directory"));
    }
    e.name.assign(reinterpret_cast<const char*>(bytes.data() + at + kCentralSize), name_len);
    // ZIP64 extra field: the 64-bit values of the fields saturated above, in order.
    uint64_t* wide[] = {&e.size, &e.compressed_size, &e.local_header_offset};
    const bool saturated[] = {e.size == kFull32, e.compressed_size == kFull32,
                              e.local_header_offset == kFull32};
    bool found_zip64 = false;
    for (uint64_t x = at + kCentralSize + name_len, x_end = x + extra_len; x + 4 <= x_end;) {
      const uint16_t id = r.U16(x);
      const uint16_t len = r.U16(x + 2);
      if (x + 4 + len > x_end) {
        return error(x, absl::StrCat("entry '", e.name, "': an extra field runs past its record"));
      }
      if (id == kZip64ExtraId) {
        found_zip64 = true;
        uint64_t f = x + 4;
        for (int k = 0; k < 3; ++k) {
          if (!saturated[k]) continue;
          if (f + 8 > x + 4 + len) {
            return error(x, absl::StrCat("entry '", e.name,
                                         "': the ZIP64 extra field is too "
                                         "short for the values it must hold"));
          }
          *wide[k] = r.U64(f);
          f += 8;
        }
      }
      x += 4 + len;
    }
    if (!found_zip64 && (saturated[0] || saturated[1] || saturated[2])) {
      return error(at, absl::StrCat("entry '", e.name,
                                    "': a size or offset defers to ZIP64, but the record has no "
                                    "ZIP64 extra field"));
    }
    archive.entries_.push_back(std::move(e));
    at += record_len;
  }
  // Where each stored entry's data starts: after its local header (whose extra field torch
  // pads so the data is 64-byte aligned; only its length matters here).
  for (ZipEntry& e : archive.entries_) {
    const uint64_t h = e.local_header_offset;
    if (!Fits(h, kLocalSize, size) || r.U32(h) != kLocalSig) {
      return error(h, absl::StrCat("entry '", e.name,
                                   "': no local file header where the central directory says"));
    }
    const uint64_t data = h + kLocalSize + r.U16(h + 26) + r.U16(h + 28);
    if (!Fits(data, e.compressed_size, size)) {
      return error(h, absl::StrCat("entry '", e.name, "': its ", e.compressed_size,
                                   " bytes of data run past the end of the ", size,
                                   "-byte file (truncated?)"));
    }
    e.data_offset = data;
  }
  return archive;
}

const ZipEntry* ZipArchive::Find(std::string_view entry_name) const {
  for (const ZipEntry& e : entries_) {
    if (e.name == entry_name) return &e;
  }
  return nullptr;
}

absl::StatusOr<std::span<const uint8_t>> ZipArchive::Data(const ZipEntry& e) const {
  if (e.flags & 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": zip entry '", e.name, "' is encrypted, which is not supported"));
  }
  if (e.method != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, ": zip entry '", e.name, "' is compressed (method ", e.method,
        e.method == 8 ? ", deflate" : "",
        "); only stored entries are read, as torch.save writes them. Re-save the checkpoint "
        "with torch.save, or re-zip it without compression (zip -0)"));
  }
  if (e.compressed_size != e.size) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": zip entry '", e.name,
                                                   "' is stored but its sizes differ (",
                                                   e.compressed_size, " vs ", e.size, ")"));
  }
  return bytes_.subspan(e.data_offset, e.size);
}

}  // namespace ovid::gguf
