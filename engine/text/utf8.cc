// File: engine/text/utf8.cc
#include "engine/text/utf8.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace ovid::text {
namespace {

// Length of the sequence a lead byte starts, or 0 for a byte that cannot start one.
int SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;  // 0xC0 and 0xC1 only start overlong forms
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;  // above 0xF4 is past U+10FFFF
  return 0;
}

}  // namespace

size_t ValidSequenceLength(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<uint8_t>(bytes[pos]);
  const int len = SequenceLength(lead);
  bool ok = len > 0 && pos + len <= bytes.size();
  for (int i = 1; ok && i < len; ++i) {
    ok = (static_cast<uint8_t>(bytes[pos + i]) & 0xC0) == 0x80;
  }
  if (ok && len >= 3) {
    // The second byte's range rules out overlong forms, surrogates and values past U+10FFFF.
    const auto second = static_cast<uint8_t>(bytes[pos + 1]);
    if (lead == 0xE0) ok = second >= 0xA0;
    if (lead == 0xED) ok = second <= 0x9F;
    if (lead == 0xF0) ok = second >= 0x90;
    if (lead == 0xF4) ok = second <= 0x8F;
  }
  return ok ? static_cast<size_t>(len) : 0;
}

absl::Status ValidateUtf8(std::string_view bytes, std::string_view what) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t len = ValidSequenceLength(bytes, pos);
    if (len == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), " is not valid UTF-8: malformed sequence at byte ", pos,
                       " of ", bytes.size()));
    }
    pos += len;
  }
  return absl::OkStatus();
}

char32_t NextCodePoint(std::string_view utf8, size_t& pos) {
  const auto lead = static_cast<uint8_t>(utf8[pos]);
  const int len = SequenceLength(lead);
  if (len <= 1 || pos + len > utf8.size()) {  // only reached on invalid input: one byte
    ++pos;
    return lead;
  }
  char32_t cp = lead & (0x7F >> len);
  for (int i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<uint8_t>(utf8[pos + i]) & 0x3F);
  pos += len;
  return cp;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace ovid::text
