// File: kernels/blocks.h
// GGML block layouts as plain structs, shared by the CPU reference and the CUDA kernels.
// `half` fields hold IEEE binary16 bits (little-endian u16). Every struct has its size pinned
// by static_assert, because a single stray byte of padding would silently shift every block
// of a tensor. Layouts: shared spec ggml.md §3.
#pragma once

#include <cstdint>

namespace ovid {

inline constexpr int kQK = 32;           // elements per legacy block
inline constexpr int kQK_K = 256;        // elements per K-quant super-block
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales/mins of Q3_K/Q4_K/Q5_K

// ---- legacy formats (32 elements) ----
struct BlockQ4_0 {
  uint16_t d;           // scale
  uint8_t qs[kQK / 2];  // nibbles: low = elements 0..15, high = 16..31
};
static_assert(sizeof(BlockQ4_0) == 18, "wrong q4_0 block size");

struct BlockQ4_1 {
  uint16_t d;  // scale
  uint16_t m;  // min
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "wrong q4_1 block size");

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // 5th bits, read as one little-endian u32
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "wrong q5_0 block size");

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "wrong q5_1 block size");

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34, "wrong q8_0 block size");

// ---- K-quants (256 elements) ----
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble: scale, high nibble: min, per 16 elements
  uint8_t qs[kQK_K / 4];       // 2-bit quants
  uint16_t d;                  // super-block scale for scales
  uint16_t dmin;               // super-block scale for mins
};
static_assert(sizeof(BlockQ2_K) == 84, "wrong q2_K block size");

struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];      // high bit of each quant (set => no -4)
  uint8_t qs[kQK_K / 4];         // low 2 bits
  uint8_t scales[kKScaleBytes];  // 16 signed 6-bit scales
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "wrong q3_K block size");

struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];  // 8 pairs of 6-bit (scale, min)
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "wrong q4_K block size");

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "wrong q5_K block size");

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit signed scales per 16 elements
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "wrong q6_K block size");

// Activation format (CPU dot products in ggml); never stored in model files. Kept for the table.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292, "wrong q8_K block size");

}  // namespace ovid
