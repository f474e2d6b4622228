// File: kernels/cuda/block_decode.cuh
// Device-side decoders for the GGML block formats, shared by the dequantization kernels and the
// fused quantized matmul. Internal to kernels/cuda (included by .cu files only; it declares no
// launcher and no __global__ function).
//
// Unit of work: a "run" = 32 consecutive outputs of one block. Every format splits into runs
// whose inputs are a few contiguous byte ranges (Q4_K run j: the header and qs[32*(j/2)..+31]),
// so one thread can decode a run with wide loads and write 64 or 128 contiguous output bytes.
// Float tensors (F32/F16/BF16) are treated as virtual 32-element blocks.
//
// Bit-exact rules (shared spec ggml.md §3.0): fp32 arithmetic in ggml's formula order. Every
// product in the formulas is exact in fp32, so the only rounding is the final add/sub (or the
// final product for Q6_K's (d*sc)*q), and FMA contraction cannot change a result. Integers are
// turned into floats exactly with the 2^23 "magic number" trick (cheaper than I2F).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/ggml_types.h"

namespace ovid {
namespace cuda_detail {

inline constexpr int kRunElems = 32;

// Half bits -> fp32, exact (hardware cvt keeps subnormals; no FTZ without --use_fast_math).
__device__ __forceinline__ float HalfBits(uint16_t h) { return __half2float(__ushort_as_half(h)); }

__device__ __forceinline__ uint16_t Ld16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);
}

// A 32-bit little-endian word at an address aligned to kAlign (2 or 4) bytes.
template <int kAlign>
__device__ __forceinline__ uint32_t Ld32(const uint8_t* p) {
  if constexpr (kAlign >= 4) {
    return *reinterpret_cast<const uint32_t*>(p);
  } else {
    return static_cast<uint32_t>(Ld16(p)) | (static_cast<uint32_t>(Ld16(p + 2)) << 16);
  }
}

// N consecutive words; 16-byte vector loads when the address allows it. A 2-byte-aligned span
// (Q6_K, Q8_0, ... blocks) is read as N+1 aligned words and funnel-shifted into place: half the
// load instructions of 16-bit loads. It may read 2 bytes past the span; callers only decode
// from shared memory, where those bytes exist (slack, or the next region) and are ignored.
template <int kAlign, int N>
__device__ __forceinline__ void LdWords(const uint8_t* p, uint32_t (&w)[N]) {
  if constexpr (kAlign >= 16 && N % 4 == 0) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const uint4 v = reinterpret_cast<const uint4*>(p)[i];
      w[4 * i] = v.x;
      w[4 * i + 1] = v.y;
      w[4 * i + 2] = v.z;
      w[4 * i + 3] = v.w;
    }
  } else if constexpr (kAlign >= 4) {
#pragma unroll
    for (int i = 0; i < N; ++i) w[i] = reinterpret_cast<const uint32_t*>(p)[i];
  } else {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const uint32_t* q = reinterpret_cast<const uint32_t*>(a & ~uintptr_t{3});
    const uint32_t shift = static_cast<uint32_t>(a & 3) * 8;
    uint32_t lo = q[0];
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const uint32_t hi = q[i + 1];
      w[i] = __funnelshift_r(lo, hi, shift);
      lo = hi;
    }
  }
}

// Byte `i` (0..3) of word w as an exact float: 0x4B000000 | b is the float 2^23 + b.
__device__ __forceinline__ float ByteToFloat(uint32_t w, int i) {
  const uint32_t bits = __byte_perm(w, 0x4B000000u, 0x7440u + i);  // bytes: b, 0, 0, 0x4B
  return __uint_as_float(bits) - 8388608.0f;
}

// Byte `i` of w minus kBias as an exact float, in one subtraction: (2^23 + b) - (2^23 + kBias)
// is exact for every byte and bias below 2^23, and cheaper than ByteToFloat(w, i) - kBias (two
// FADDs: without fast-math the compiler does not fold them).
template <int kBias>
__device__ __forceinline__ float ByteToFloatMinus(uint32_t w, int i) {
  const uint32_t bits = __byte_perm(w, 0x4B000000u, 0x7440u + i);
  return __uint_as_float(bits) - static_cast<float>(8388608 + kBias);
}

// Low 4 bits of a byte code as float: (w & 0x0F0F0F0F) per byte.
__device__ __forceinline__ uint32_t LoNibbles(uint32_t w) { return w & 0x0F0F0F0Fu; }
__device__ __forceinline__ uint32_t HiNibbles(uint32_t w) { return (w >> 4) & 0x0F0F0F0Fu; }

// Byte k (0..11) of the 12 packed scale bytes held in words s[0..2]; selects, not an indexed
// register array, so nothing spills to local memory when k is a run-time value.
__device__ __forceinline__ int ScaleByte(const uint32_t (&s)[3], int k) {
  const uint32_t w = k < 4 ? s[0] : (k < 8 ? s[1] : s[2]);
  return static_cast<int>((w >> (8 * (k & 3))) & 0xFFu);
}

// get_scale_min_k4 of ggml (spec §3.2), for the packed 6-bit scales of Q4_K/Q5_K.
__device__ __forceinline__ void ScaleMinK4(int j, const uint32_t (&s)[3], int& sc, int& m) {
  if (j < 4) {
    sc = ScaleByte(s, j) & 63;
    m = ScaleByte(s, j + 4) & 63;
  } else {
    sc = (ScaleByte(s, j + 4) & 0xF) | ((ScaleByte(s, j - 4) >> 6) << 4);
    m = (ScaleByte(s, j + 4) >> 4) | ((ScaleByte(s, j) >> 6) << 4);
  }
}

// ---- one Codec per format: geometry and Decode(block, run, v[32]) ----
// kAlign: the alignment every block has when the tensor base is 16-byte aligned and rows are
// whole blocks (block bytes' largest power-of-two divisor, capped at 16).
template <GgmlType T>
struct Codec;

template <>
struct Codec<GgmlType::kF32> {
  static constexpr int kElems = 32, kBytes = 128, kRuns = 1, kAlign = 16;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    uint32_t w[32];
    LdWords<kAlign>(b, w);
#pragma unroll
    for (int i = 0; i < 32; ++i) v[i] = __uint_as_float(w[i]);
  }
};

template <>
struct Codec<GgmlType::kF16> {
  static constexpr int kElems = 32, kBytes = 64, kRuns = 1, kAlign = 16;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    uint32_t w[16];
    LdWords<kAlign>(b, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      v[2 * i] = HalfBits(static_cast<uint16_t>(w[i]));
      v[2 * i + 1] = HalfBits(static_cast<uint16_t>(w[i] >> 16));
    }
  }
};

template <>
struct Codec<GgmlType::kBF16> {
  static constexpr int kElems = 32, kBytes = 64, kRuns = 1, kAlign = 16;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    uint32_t w[16];
    LdWords<kAlign>(b, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
  }
};

// Q4_0: y[j] = ((qs[j]&0xF) - 8) * d;  y[j+16] = ((qs[j]>>4) - 8) * d
template <>
struct Codec<GgmlType::kQ4_0> {
  static constexpr int kElems = 32, kBytes = 18, kRuns = 1, kAlign = 2;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    const float d = HalfBits(Ld16(b));
    uint32_t w[4];
    LdWords<kAlign>(b + 2, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      v[i] = ByteToFloatMinus<8>(LoNibbles(w[i / 4]), i % 4) * d;
      v[i + 16] = ByteToFloatMinus<8>(HiNibbles(w[i / 4]), i % 4) * d;
    }
  }
};

// Q4_1: y = q*d + m
template <>
struct Codec<GgmlType::kQ4_1> {
  static constexpr int kElems = 32, kBytes = 20, kRuns = 1, kAlign = 4;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    const uint32_t dm = Ld32<kAlign>(b);
    const float d = HalfBits(static_cast<uint16_t>(dm));
    const float m = HalfBits(static_cast<uint16_t>(dm >> 16));
    uint32_t w[4];
    LdWords<kAlign>(b + 4, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      v[i] = ByteToFloat(LoNibbles(w[i / 4]), i % 4) * d + m;
      v[i + 16] = ByteToFloat(HiNibbles(w[i / 4]), i % 4) * d + m;
    }
  }
};

// Q5_0: q = nibble | bit j of qh (u32 LE) << 4;  y = (q - 16) * d
template <>
struct Codec<GgmlType::kQ5_0> {
  static constexpr int kElems = 32, kBytes = 22, kRuns = 1, kAlign = 2;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    const float d = HalfBits(Ld16(b));
    const uint32_t qh = Ld32<kAlign>(b + 2);
    uint32_t w[4];
    LdWords<kAlign>(b + 6, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const float lo = ByteToFloat(LoNibbles(w[i / 4]), i % 4) + ((qh >> i) & 1u ? 16.0f : 0.0f);
      const float hi =
          ByteToFloat(HiNibbles(w[i / 4]), i % 4) + ((qh >> (i + 16)) & 1u ? 16.0f : 0.0f);
      v[i] = (lo - 16.0f) * d;
      v[i + 16] = (hi - 16.0f) * d;
    }
  }
};

// Q5_1: same 5-bit q, y = q*d + m
template <>
struct Codec<GgmlType::kQ5_1> {
  static constexpr int kElems = 32, kBytes = 24, kRuns = 1, kAlign = 8;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    const uint32_t dm = Ld32<4>(b);
    const float d = HalfBits(static_cast<uint16_t>(dm));
    const float m = HalfBits(static_cast<uint16_t>(dm >> 16));
    const uint32_t qh = Ld32<4>(b + 4);
    uint32_t w[4];
    LdWords<4>(b + 8, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const float lo = ByteToFloat(LoNibbles(w[i / 4]), i % 4) + ((qh >> i) & 1u ? 16.0f : 0.0f);
      const float hi =
          ByteToFloat(HiNibbles(w[i / 4]), i % 4) + ((qh >> (i + 16)) & 1u ? 16.0f : 0.0f);
      v[i] = lo * d + m;
      v[i + 16] = hi * d + m;
    }
  }
};

// Q8_0: y = qs * d (qs signed)
template <>
struct Codec<GgmlType::kQ8_0> {
  static constexpr int kElems = 32, kBytes = 34, kRuns = 1, kAlign = 2;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int, float (&v)[32]) {
    const float d = HalfBits(Ld16(b));
    uint32_t w[8];
    LdWords<kAlign>(b + 2, w);
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      // Signed byte as exact float: (2^23 + (b ^ 0x80)) - (2^23 + 128).
      v[i] = ByteToFloatMinus<128>(w[i / 4] ^ 0x80808080u, i % 4) * d;
    }
  }
};

// Q2_K run r: h = r/4, g = r%4; q = (qs[32h+l] >> 2g) & 3; s = scales[8h+2g+(l>=16)]
// y = (d*(s&0xF))*q - (dmin*(s>>4))
template <>
struct Codec<GgmlType::kQ2_K> {
  static constexpr int kElems = 256, kBytes = 84, kRuns = 8, kAlign = 4;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int r, float (&v)[32]) {
    const int h = r >> 2, g = r & 3;
    const uint32_t dd = Ld32<4>(b + 80);
    const float d = HalfBits(static_cast<uint16_t>(dd));
    const float dmin = HalfBits(static_cast<uint16_t>(dd >> 16));
    const uint8_t s0 = b[8 * h + 2 * g], s1 = b[8 * h + 2 * g + 1];
    const float dl0 = d * static_cast<float>(s0 & 0xF), ml0 = dmin * static_cast<float>(s0 >> 4);
    const float dl1 = d * static_cast<float>(s1 & 0xF), ml1 = dmin * static_cast<float>(s1 >> 4);
    uint32_t w[8];
    LdWords<4>(b + 16 + 32 * h, w);
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const float q = ByteToFloat((w[i / 4] >> (2 * g)) & 0x03030303u, i % 4);
      v[i] = i < 16 ? dl0 * q - ml0 : dl1 * q - ml1;
    }
  }
};

// Q3_K run r: h = r/4, g = r%4; q = ((qs[32h+l] >> 2g) & 3) - (hmask bit (4h+g) of [l] ? 0 : 4)
// y = (d * sc[8h+2g+(l>=16)]) * q, sc 6-bit signed (spec §3.2).
template <>
struct Codec<GgmlType::kQ3_K> {
  static constexpr int kElems = 256, kBytes = 110, kRuns = 8, kAlign = 2;
  static __device__ __forceinline__ int Scale(const uint8_t* s, int k) {
    const int lo4 = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int hi2 = (s[8 + (k & 3)] >> (2 * (k >> 2))) & 3;
    return (lo4 | (hi2 << 4)) - 32;
  }
  static __device__ __forceinline__ void Decode(const uint8_t* b, int r, float (&v)[32]) {
    const int h = r >> 2, g = r & 3;
    const float d = HalfBits(Ld16(b + 108));
    const int k0 = 8 * h + 2 * g;
    const float dl0 = d * static_cast<float>(Scale(b + 96, k0));
    const float dl1 = d * static_cast<float>(Scale(b + 96, k0 + 1));
    uint32_t hm[8], qs[8];
    LdWords<kAlign>(b, hm);
    LdWords<kAlign>(b + 32 + 32 * h, qs);
    const int hbit = 4 * h + g;
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const float q2 = ByteToFloat((qs[i / 4] >> (2 * g)) & 0x03030303u, i % 4);
      const bool set = (hm[i / 4] >> (8 * (i % 4) + hbit)) & 1u;
      const float q = q2 - (set ? 0.0f : 4.0f);
      v[i] = (i < 16 ? dl0 : dl1) * q;
    }
  }
};

// Q4_K run j: c = j/2, hi = j&1; q = nibble of qs[32c+l]; y = (d*sc_j)*q - (dmin*m_j)
template <>
struct Codec<GgmlType::kQ4_K> {
  static constexpr int kElems = 256, kBytes = 144, kRuns = 8, kAlign = 16;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int j, float (&v)[32]) {
    uint32_t hdr[4];
    LdWords<16>(b, hdr);
    const float d = HalfBits(static_cast<uint16_t>(hdr[0]));
    const float dmin = HalfBits(static_cast<uint16_t>(hdr[0] >> 16));
    const uint32_t scales[3] = {hdr[1], hdr[2], hdr[3]};
    int sc, m;
    ScaleMinK4(j, scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    uint32_t w[8];
    LdWords<16>(b + 16 + 32 * (j >> 1), w);
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const float q = ByteToFloat((w[i / 4] >> shift) & 0x0F0F0F0Fu, i % 4);
      v[i] = d1 * q - m1;
    }
  }
};

// Q5_K run j: as Q4_K plus bit j of qh[l] as the 5th bit.
template <>
struct Codec<GgmlType::kQ5_K> {
  static constexpr int kElems = 256, kBytes = 176, kRuns = 8, kAlign = 16;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int j, float (&v)[32]) {
    uint32_t hdr[4];
    LdWords<16>(b, hdr);
    const float d = HalfBits(static_cast<uint16_t>(hdr[0]));
    const float dmin = HalfBits(static_cast<uint16_t>(hdr[0] >> 16));
    const uint32_t scales[3] = {hdr[1], hdr[2], hdr[3]};
    int sc, m;
    ScaleMinK4(j, scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    uint32_t qh[8], w[8];
    LdWords<16>(b + 16, qh);
    LdWords<16>(b + 48 + 32 * (j >> 1), w);
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const uint32_t q4 = (w[i / 4] >> shift) & 0x0F0F0F0Fu;
      const uint32_t q5 = q4 | (((qh[i / 4] >> j) & 0x01010101u) << 4);
      v[i] = d1 * ByteToFloat(q5, i % 4) - m1;
    }
  }
};

// Q6_K run r: h = r/4, g = r%4; nib from ql[64h + 32(g&1) + l] (low nibble for g<2);
// q = (nib | ((qh[32h+l] >> 2g) & 3) << 4) - 32;  y = (d * scales[8h+2g+l/16]) * q
template <>
struct Codec<GgmlType::kQ6_K> {
  static constexpr int kElems = 256, kBytes = 210, kRuns = 8, kAlign = 2;
  static __device__ __forceinline__ void Decode(const uint8_t* b, int r, float (&v)[32]) {
    const int h = r >> 2, g = r & 3;
    const float d = HalfBits(Ld16(b + 208));
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * g);
    const float dl0 = d * static_cast<float>(sc[0]), dl1 = d * static_cast<float>(sc[1]);
    uint32_t ql[8], qh[8];
    LdWords<kAlign>(b + 64 * h + 32 * (g & 1), ql);
    LdWords<kAlign>(b + 128 + 32 * h, qh);
    const int nshift = g < 2 ? 0 : 4;
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const uint32_t q =
          ((ql[i / 4] >> nshift) & 0x0F0F0F0Fu) | (((qh[i / 4] >> (2 * g)) & 0x03030303u) << 4);
      v[i] = (i < 16 ? dl0 : dl1) * ByteToFloatMinus<32>(q, i % 4);
    }
  }
};

template <GgmlType T>
using TypeTag = std::integral_constant<GgmlType, T>;

// Calls f(TypeTag<T>{}) for a supported type; returns false for any other.
template <typename F>
bool DispatchType(GgmlType type, F&& f) {
  switch (type) {
    case GgmlType::kF32:
      f(TypeTag<GgmlType::kF32>{});
      return true;
    case GgmlType::kF16:
      f(TypeTag<GgmlType::kF16>{});
      return true;
    case GgmlType::kBF16:
      f(TypeTag<GgmlType::kBF16>{});
      return true;
    case GgmlType::kQ4_0:
      f(TypeTag<GgmlType::kQ4_0>{});
      return true;
    case GgmlType::kQ4_1:
      f(TypeTag<GgmlType::kQ4_1>{});
      return true;
    case GgmlType::kQ5_0:
      f(TypeTag<GgmlType::kQ5_0>{});
      return true;
    case GgmlType::kQ5_1:
      f(TypeTag<GgmlType::kQ5_1>{});
      return true;
    case GgmlType::kQ8_0:
      f(TypeTag<GgmlType::kQ8_0>{});
      return true;
    case GgmlType::kQ2_K:
      f(TypeTag<GgmlType::kQ2_K>{});
      return true;
    case GgmlType::kQ3_K:
      f(TypeTag<GgmlType::kQ3_K>{});
      return true;
    case GgmlType::kQ4_K:
      f(TypeTag<GgmlType::kQ4_K>{});
      return true;
    case GgmlType::kQ5_K:
      f(TypeTag<GgmlType::kQ5_K>{});
      return true;
    case GgmlType::kQ6_K:
      f(TypeTag<GgmlType::kQ6_K>{});
      return true;
    default:
      return false;
  }
}

// Two floats as one bf16x2 word (round to nearest even), `lo` in the low half: the order two
// neighbouring bf16 values have in memory.
__device__ __forceinline__ uint32_t PackBf16x2(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Values 8q..8q+7 of a decoded run of 32 as bf16 in one 16-byte vector.
__device__ __forceinline__ uint4 PackChunkBf16(const float (&v)[32], int q) {
  return make_uint4(PackBf16x2(v[8 * q], v[8 * q + 1]), PackBf16x2(v[8 * q + 2], v[8 * q + 3]),
                    PackBf16x2(v[8 * q + 4], v[8 * q + 5]), PackBf16x2(v[8 * q + 6], v[8 * q + 7]));
}

// A whole decoded run of 32 values as bf16 in four 16-byte vectors, one vector store each (a
// global row of the dequantized weight, or a row of a shared-memory weight tile).
__device__ __forceinline__ void PackRunBf16(const float (&v)[32], uint4 (&out)[4]) {
#pragma unroll
  for (int q = 0; q < 4; ++q) out[q] = PackChunkBf16(v, q);
}

// What both fused quantized matmul kernels compute: y[m, n] = x[m, k] * W[n, k]^T (+ bias[n]),
// W as GGUF blocks, `w_row_bytes` per weight row.
struct QuantMatmulProblem {
  const uint8_t* w;
  const __nv_bfloat16* x;
  __nv_bfloat16* y;
  const __nv_bfloat16* bias;
  int m, n, k;
  int64_t w_row_bytes;
};

}  // namespace cuda_detail
}  // namespace ovid
