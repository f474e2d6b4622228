// File: kernels/ggml_types.h
// The ggml type table (ids 0-42): name, elements per block, bytes per block. This is the single
// source of truth for block geometry; GGUF parsing, dequantization and the CUDA launchers all
// consult it. Pure leaf: std only (no absl, no LibTorch), so CUDA code can include it too.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ovid {

// Values are ggml's on-disk ids; gaps are ids ggml removed (they stay invalid forever).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  // 4, 5: Q4_2, Q4_3 (removed)
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  // 31-33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8 (removed)
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  // 36-38: IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8 (removed)
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
  kQ2_0 = 42,
};

inline constexpr uint32_t kGgmlTypeCount = 43;

struct GgmlTypeInfo {
  const char* name;    // ggml's spelling: "f32", "q4_K", ...; "(removed)" for dead ids
  int64_t block_size;  // elements per block; 0 for removed ids
  int64_t type_size;   // bytes per block; 0 for removed ids
  bool quantized;      // true for block formats (block_size > 1)
  bool dequantizable;  // ovid can expand it to f32/f16/bf16 (CPU reference + CUDA)
  bool quantizable;    // ovid can produce it from f32
};

// nullptr when id >= kGgmlTypeCount. Removed ids return an entry with block_size == 0.
const GgmlTypeInfo* GgmlTypeInfoFor(uint32_t id);

// Never null: a GgmlType cast from an unchecked file id >= kGgmlTypeCount gets an "(unknown)"
// entry with block_size == 0 and every capability false, so callers fail cleanly, not crash.
const GgmlTypeInfo& GgmlInfo(GgmlType t);
inline const char* GgmlTypeName(GgmlType t) { return GgmlInfo(t).name; }

// The byte alignment ovid's readers need for a tensor of `t` in memory (they load its f16/f32
// fields in place): the element size for plain types, the widest scale field for the block
// formats ovid expands (2: f16 scales; 4: Q8_K's f32), 1 for types ovid never reads.
int64_t GgmlTypeDataAlignment(GgmlType t);

// I8/I16/I32/I64: a model's real-valued parameters must not be stored as these (loaders refuse
// them by name rather than let them truncate the activations they meet).
inline bool GgmlTypeIsInteger(GgmlType t) {
  return t == GgmlType::kI8 || t == GgmlType::kI16 || t == GgmlType::kI32 || t == GgmlType::kI64;
}

// True for ids that name a live type (in range, not removed).
inline bool GgmlTypeIsValid(uint32_t id) {
  const GgmlTypeInfo* info = GgmlTypeInfoFor(id);
  return info != nullptr && info->block_size != 0;
}

// Accepts ggml's spelling case-insensitively ("Q4_K", "q4_k", "bf16").
std::optional<GgmlType> GgmlTypeFromName(std::string_view name);

// Bytes of `n_elements` contiguous elements; the caller guarantees n_elements % block_size == 0.
// Returns -1 for removed or unknown types (block_size 0) instead of dividing by zero.
inline int64_t GgmlRowBytes(GgmlType t, int64_t n_elements) {
  const GgmlTypeInfo& info = GgmlInfo(t);
  if (info.block_size == 0) return -1;
  return n_elements / info.block_size * info.type_size;
}

}  // namespace ovid
