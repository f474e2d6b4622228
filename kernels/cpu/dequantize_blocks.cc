// File: kernels/cpu/dequantize_blocks.cc
// The per-format block decoders (shared spec ggml.md §3), fp32 output. Each output is computed
// with ggml's operation order: the scale products are exact in fp32, so the one rounding is the
// final add/sub (or the final product for Q6_K). Loops run over fixed-size sub-blocks so the
// compiler can vectorise them; nothing here may be reassociated (no -ffast-math).
#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

// Q4_K/Q5_K pack 8 (scale, min) pairs of 6 bits into 12 bytes (layout: ggml.md §3.2).
inline void ScaleMinK4(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K/Q5_K chunk c (elements 64c..64c+63) = sub-blocks 2c and 2c+1: their effective scale
// d*sc and min dmin*m. Both products are exact in fp32 (ggml.md §3.0).
struct KSubScales {
  float d1, min1, d2, min2;
};
inline KSubScales KSubScalesFor(int c, float d, float dmin, const uint8_t* scales) {
  uint8_t sc1, m1, sc2, m2;
  ScaleMinK4(2 * c, scales, &sc1, &m1);
  ScaleMinK4(2 * c + 1, scales, &sc2, &m2);
  return {d * static_cast<float>(sc1), dmin * static_cast<float>(m1), d * static_cast<float>(sc2),
          dmin * static_cast<float>(m2)};
}

// Q3_K's 16 signed 6-bit scales: low 4 bits in bytes 0..7, high 2 bits in bytes 8..11.
inline void UnpackQ3KScales(const uint8_t* s, int8_t* out) {
  for (int k = 0; k < 16; ++k) {
    const int lo4 = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int hi2 = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    out[k] = static_cast<int8_t>((lo4 | (hi2 << 4)) - 32);
  }
}

inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

// Bit j of a Q5 block's qh, as a mask; a table instead of (qh >> j) because SSE2 has no
// per-lane variable shift, and with constant masks GCC vectorises the unpacking.
constexpr uint32_t kBit[32] = {1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,
                               1u << 7,  1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13,
                               1u << 14, 1u << 15, 1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20,
                               1u << 21, 1u << 22, 1u << 23, 1u << 24, 1u << 25, 1u << 26, 1u << 27,
                               1u << 28, 1u << 29, 1u << 30, 1u << 31};

// Q5_0/Q5_1 5-bit codes: nibbles as in Q4 (low = elements 0..15), bit j of qh is bit 4 of j.
inline void UnpackQ5(const uint8_t* qs_in, uint32_t qh, int* q) {
  uint8_t qs[kQK / 2];
  memcpy(qs, qs_in, sizeof(qs));
  for (int j = 0; j < kQK / 2; ++j) q[j] = (qs[j] & 0xF) | ((qh & kBit[j]) != 0 ? 16 : 0);
  for (int j = 0; j < kQK / 2; ++j) q[j + 16] = (qs[j] >> 4) | ((qh & kBit[j + 16]) != 0 ? 16 : 0);
}

}  // namespace

void DequantizeF16(const void* src, float* dst, int64_t n_blocks) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) dst[i] = HalfToFloat(h[i]);
}

void DequantizeBF16(const void* src, float* dst, int64_t n_blocks) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) dst[i] = Bf16ToFloat(h[i]);
}

void DequantizeQ4_0(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const float d = HalfToFloat(b[i].d);
    uint8_t qs[kQK / 2];  // a local copy: stores to dst can then not alias it, so GCC vectorises
    memcpy(qs, b[i].qs, sizeof(qs));
    for (int j = 0; j < kQK / 2; ++j) dst[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    for (int j = 0; j < kQK / 2; ++j) dst[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void DequantizeQ4_1(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const float d = HalfToFloat(b[i].d);
    const float m = HalfToFloat(b[i].m);
    uint8_t qs[kQK / 2];
    memcpy(qs, b[i].qs, sizeof(qs));
    for (int j = 0; j < kQK / 2; ++j) dst[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    for (int j = 0; j < kQK / 2; ++j) dst[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

void DequantizeQ5_0(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const float d = HalfToFloat(b[i].d);
    int q[kQK];
    UnpackQ5(b[i].qs, LoadU32(b[i].qh), q);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void DequantizeQ5_1(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const float d = HalfToFloat(b[i].d);
    const float m = HalfToFloat(b[i].m);
    int q[kQK];
    UnpackQ5(b[i].qs, LoadU32(b[i].qh), q);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(q[j]) * d + m;
  }
}

void DequantizeQ8_0(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const float d = HalfToFloat(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void DequantizeQ2_K(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = HalfToFloat(b[i].d);
    const float dmin = HalfToFloat(b[i].dmin);
    uint8_t qs[kQK_K / 4];
    memcpy(qs, b[i].qs, sizeof(qs));
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = qs + 32 * h;
      for (int g = 0; g < 4; ++g) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t s = b[i].scales[8 * h + 2 * g + half];
          const float dl = d * static_cast<float>(s & 0xF);
          const float ml = dmin * static_cast<float>(s >> 4);
          float* y = dst + 128 * h + 32 * g + 16 * half;
          for (int l = 0; l < 16; ++l) {
            y[l] = dl * static_cast<float>((q[16 * half + l] >> (2 * g)) & 3) - ml;
          }
        }
      }
    }
    dst += kQK_K;
  }
}

void DequantizeQ3_K(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  int8_t sc[16];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = HalfToFloat(b[i].d);
    UnpackQ3KScales(b[i].scales, sc);
    uint8_t qs[kQK_K / 4], hmask[kQK_K / 8];
    memcpy(qs, b[i].qs, sizeof(qs));
    memcpy(hmask, b[i].hmask, sizeof(hmask));
    for (int h = 0; h < 2; ++h) {
      for (int g = 0; g < 4; ++g) {
        const int shift = 2 * g;
        const int hbit = 4 * h + g;
        for (int half = 0; half < 2; ++half) {
          const float dl = d * static_cast<float>(sc[8 * h + 2 * g + half]);
          float* y = dst + 128 * h + 32 * g + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const int idx = 16 * half + l;
            const int q = ((qs[32 * h + idx] >> shift) & 3) - 4 + (((hmask[idx] >> hbit) & 1) << 2);
            y[l] = dl * static_cast<float>(q);
          }
        }
      }
    }
    dst += kQK_K;
  }
}

void DequantizeQ4_K(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = HalfToFloat(b[i].d);
    const float dmin = HalfToFloat(b[i].dmin);
    for (int c = 0; c < 4; ++c) {
      const KSubScales ss = KSubScalesFor(c, d, dmin, b[i].scales);
      const float d1 = ss.d1, min1 = ss.min1, d2 = ss.d2, min2 = ss.min2;
      const uint8_t* q = b[i].qs + 32 * c;
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - min1;
      for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - min2;
    }
    dst += kQK_K;
  }
}

void DequantizeQ5_K(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = HalfToFloat(b[i].d);
    const float dmin = HalfToFloat(b[i].dmin);
    for (int c = 0; c < 4; ++c) {
      const KSubScales ss = KSubScalesFor(c, d, dmin, b[i].scales);
      const float d1 = ss.d1, min1 = ss.min1, d2 = ss.d2, min2 = ss.min2;
      const uint8_t* q = b[i].qs + 32 * c;
      const uint8_t* qh = b[i].qh;
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
        y[l] = d1 * static_cast<float>(v) - min1;
      }
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        y[32 + l] = d2 * static_cast<float>(v) - min2;
      }
    }
    dst += kQK_K;
  }
}

void DequantizeQ6_K(const void* src, float* dst, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = HalfToFloat(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      for (int g = 0; g < 4; ++g) {
        // g = 0,1 take low nibbles of ql[0..31] / ql[32..63]; g = 2,3 the high nibbles.
        const uint8_t* qlg = ql + 32 * (g & 1);
        const int nib_shift = (g >> 1) * 4;
        for (int half = 0; half < 2; ++half) {
          const float ds = d * static_cast<float>(b[i].scales[8 * h + 2 * g + half]);
          float* y = dst + 128 * h + 32 * g + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const int idx = 16 * half + l;
            const int q =
                (((qlg[idx] >> nib_shift) & 0xF) | (((qh[idx] >> (2 * g)) & 3) << 4)) - 32;
            y[l] = ds * static_cast<float>(q);
          }
        }
      }
    }
    dst += kQK_K;
  }
}

}  // namespace ovid
