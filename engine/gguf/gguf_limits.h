// File: engine/gguf/gguf_limits.h
// The limits the GGUF reader enforces on untrusted bytes (ggml's where ggml has one).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ovid::gguf {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;    // GGUF_MAX_STRING_LENGTH
inline constexpr uint64_t kMaxArrayElements = uint64_t{1} << 30;  // GGUF_MAX_ARRAY_ELEMENTS
// ggml refuses nested arrays outright; ovid accepts them but bounds the recursion so a
// "depth bomb" cannot exhaust the stack.
inline constexpr int kMaxArrayDepth = 8;
// Upper bound on the memory the parsed metadata and tensor infos may occupy. File bytes already
// bound every count, but one byte of file (a u8 array item) expands to a whole Value in memory,
// so a hostile file could still ask for ~50x its size without this.
inline constexpr uint64_t kMaxParsedBytes = uint64_t{2} << 30;
// general.alignment: files use 32 (ggml's default); a page or a huge page is the most anyone has
// a reason for. A tensor-less file of 64 bytes claiming 2^31 made a writer that copies its
// alignment pad its header to 2 GiB.
inline constexpr uint64_t kMaxAlignment = uint64_t{1} << 21;

}  // namespace ovid::gguf
