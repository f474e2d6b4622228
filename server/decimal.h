// File: server/decimal.h
// A plain decimal as written in a flag: 1..max_digits ASCII digits, no sign, spaces or base
// prefix (which number parsers accept). The listening addresses' ports and IPv4 octets go
// through it, so that "+80", " 80" or "0x50" are refused instead of read some other way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ovid::server {

inline std::optional<uint32_t> PlainDecimal(std::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits || max_digits > 9) return std::nullopt;
  uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value;
}

}  // namespace ovid::server
