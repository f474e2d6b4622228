// File: kernels/ggml_types.cc
#include "kernels/ggml_types.h"

#include <cctype>

namespace ovid {
namespace {

// Geometry from ggml's type_traits (see shared spec ggml.md §2). "supported" marks the formats
// ovid expands and produces; the rest are known by name so errors can say what a file holds.
constexpr GgmlTypeInfo kRemoved = {"(removed)", 0, 0, false, false, false};
constexpr GgmlTypeInfo kUnknown = {"(unknown)", 0, 0, false, false, false};

constexpr GgmlTypeInfo kTable[kGgmlTypeCount] = {
    /* 0 */ {"f32", 1, 4, false, true, true},
    /* 1 */ {"f16", 1, 2, false, true, true},
    /* 2 */ {"q4_0", 32, 18, true, true, true},
    /* 3 */ {"q4_1", 32, 20, true, true, true},
    /* 4 */ kRemoved,
    /* 5 */ kRemoved,
    /* 6 */ {"q5_0", 32, 22, true, true, true},
    /* 7 */ {"q5_1", 32, 24, true, true, true},
    /* 8 */ {"q8_0", 32, 34, true, true, true},
    /* 9 */ {"q8_1", 32, 36, true, false, false},
    /* 10 */ {"q2_K", 256, 84, true, true, true},
    /* 11 */ {"q3_K", 256, 110, true, true, true},
    /* 12 */ {"q4_K", 256, 144, true, true, true},
    /* 13 */ {"q5_K", 256, 176, true, true, true},
    /* 14 */ {"q6_K", 256, 210, true, true, true},
    /* 15 */ {"q8_K", 256, 292, true, false, false},
    /* 16 */ {"iq2_xxs", 256, 66, true, false, false},
    /* 17 */ {"iq2_xs", 256, 74, true, false, false},
    /* 18 */ {"iq3_xxs", 256, 98, true, false, false},
    /* 19 */ {"iq1_s", 256, 50, true, false, false},
    /* 20 */ {"iq4_nl", 32, 18, true, false, false},
    /* 21 */ {"iq3_s", 256, 110, true, false, false},
    /* 22 */ {"iq2_s", 256, 82, true, false, false},
    /* 23 */ {"iq4_xs", 256, 136, true, false, false},
    /* 24 */ {"i8", 1, 1, false, false, false},
    /* 25 */ {"i16", 1, 2, false, false, false},
    /* 26 */ {"i32", 1, 4, false, false, false},
    /* 27 */ {"i64", 1, 8, false, false, false},
    /* 28 */ {"f64", 1, 8, false, false, false},
    /* 29 */ {"iq1_m", 256, 56, true, false, false},
    /* 30 */ {"bf16", 1, 2, false, true, true},
    /* 31 */ kRemoved,
    /* 32 */ kRemoved,
    /* 33 */ kRemoved,
    /* 34 */ {"tq1_0", 256, 54, true, false, false},
    /* 35 */ {"tq2_0", 256, 66, true, false, false},
    /* 36 */ kRemoved,
    /* 37 */ kRemoved,
    /* 38 */ kRemoved,
    /* 39 */ {"mxfp4", 32, 17, true, false, false},
    /* 40 */ {"nvfp4", 64, 36, true, false, false},
    /* 41 */ {"q1_0", 128, 18, true, false, false},
    /* 42 */ {"q2_0", 64, 18, true, false, false},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

const GgmlTypeInfo* GgmlTypeInfoFor(uint32_t id) {
  return id < kGgmlTypeCount ? &kTable[id] : nullptr;
}

const GgmlTypeInfo& GgmlInfo(GgmlType t) {
  const GgmlTypeInfo* info = GgmlTypeInfoFor(static_cast<uint32_t>(t));
  return info != nullptr ? *info : kUnknown;
}

std::optional<GgmlType> GgmlTypeFromName(std::string_view name) {
  for (uint32_t id = 0; id < kGgmlTypeCount; ++id) {
    if (kTable[id].block_size != 0 && EqualsIgnoreCase(kTable[id].name, name)) {
      return static_cast<GgmlType>(id);
    }
  }
  return std::nullopt;
}

int64_t GgmlTypeDataAlignment(GgmlType t) {
  const GgmlTypeInfo& info = GgmlInfo(t);
  if (!info.dequantizable || info.type_size <= 0) return 1;
  if (info.block_size == 1) return info.type_size;
  return t == GgmlType::kQ8_K ? 4 : 2;
}

}  // namespace ovid
