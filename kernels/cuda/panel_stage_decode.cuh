// File: kernels/cuda/panel_stage_decode.cuh
// Decoders for the fused panel matmul: one "stage row" = 64 consecutive weights of one row
// (elements 64q..64q+63 of a 256-element unit) expanded to bf16, in k order, as 8 x 16 bytes.
// Internal to kernels/cuda.
//
// Why not Codec<T>::Decode (block_decode.cuh): that path is bit-exact with ggml, which costs an
// integer->float conversion (PRMT + FADD of the 2^23 magic) before the scale FFMA. The matmul
// only needs the weights within bf16 rounding, so here the integer goes into the mantissa of a
// float near 1 and the scale FFMA removes the offset in the same instruction:
//   u < 128 in byte 2 of 0x3F000000 is f = 0.5 + u/256, so s*u - o = (256 s)*f - (128 s + o).
// The product (256 s)*f is exact inside the FFMA; only the constant 128 s + o is rounded (to
// fp32, ~2^-24 of 128 s, i.e. 2^-17 of one quantization step), so the result is the exact fp32
// value of ggml's formula in all but a vanishing share of elements, far inside bf16 rounding.
// For Q6_K and Q8_0 the constant is exact and the result equals ggml's, except that a zero
// comes out +0 where ggml's product is -0 (a negative scale times a zero code): harmless in a
// matmul, and why the bit-exact dequantization does not use this form (bench/results/
// dequant-fma-decode-NVIDIA-H200-20261129).
// One PRMT + one FFMA + half an F2FP per weight (was PRMT + FADD + FFMA + half an F2FP), and
// a thread decodes a whole stage row, so the header and scales are read once per 64 weights.
#pragma once

#include <cstdint>

#include "kernels/cuda/block_decode.cuh"

namespace ovid::cuda_detail {

// Bytes of `u` (each < 128) -> 4 values s*u - o computed as fma(f(u), a, c), a = 256 s,
// c = -(128 s + o); two bf16x2 words in byte order.
__device__ __forceinline__ uint2 MantissaBytesBf16(uint32_t u, float a, float c) {
  float y[4];
#pragma unroll
  for (int b = 0; b < 4; ++b) {
    // Result bytes: 0x00, 0x00, byte b of u, 0x3F.
    y[b] = fmaf(__uint_as_float(__byte_perm(u, 0x3F000000u, 0x7044u | (b << 8))), a, c);
  }
  return make_uint2(PackBf16x2(y[0], y[1]), PackBf16x2(y[2], y[3]));
}

// Signed bytes (Q8_0): byte b ^ 0x80 = v + 128 in byte 1 of 0x3F800000 is 1 + (v+128)/2^15,
// so d*v = (2^15 d)*f - (2^15 + 128) d, both constants exact.
__device__ __forceinline__ uint2 SignedBytesBf16(uint32_t w, float a, float c) {
  const uint32_t u = w ^ 0x80808080u;
  float y[4];
#pragma unroll
  for (int b = 0; b < 4; ++b) {
    // Result bytes: 0x00, byte b of u, 0x80, 0x3F.
    y[b] = fmaf(__uint_as_float(__byte_perm(u, 0x3F800000u, 0x7604u | (b << 4))), a, c);
  }
  return make_uint2(PackBf16x2(y[0], y[1]), PackBf16x2(y[2], y[3]));
}

// kWords / 4 16-byte vectors from q, as kWords words.
template <int kWords>
__device__ __forceinline__ void LdVectors(const uint4* q, uint32_t (&v)[kWords]) {
  static_assert(kWords % 4 == 0, "whole vectors");
#pragma unroll
  for (int i = 0; i < kWords / 4; ++i) {
    const uint4 x = q[i];
    v[4 * i] = x.x;
    v[4 * i + 1] = x.y;
    v[4 * i + 2] = x.z;
    v[4 * i + 3] = x.w;
  }
}

// N consecutive words at a 2-byte-aligned shared-memory address, read as the 16-byte vectors
// that cover them and shifted into place. Why: a raw unit slot is an odd number of 16-byte
// words wide (240 bytes for Q6_K), so 16-byte loads of 32 consecutive rows are free of bank
// conflicts, while 32-bit loads (LdWords' 2-byte path) hit one bank from 4 rows at once. The
// decoders' loads then took ~4x the shared-memory wavefronts, in a loop whose wgmma operand
// reads already keep shared memory busy. The word shift (0-3) is a run-time value, so two
// selects per word pick it (no indexed register array, nothing in local memory).
// Reads up to 28 bytes past the span's end (16 when N % 4 == 0): callers keep that inside
// shared memory.
template <int N>
__device__ __forceinline__ void LdWordsRealigned(const uint8_t* p, uint32_t (&w)[N]) {
  constexpr int kVecs = (N + 4 + 3) / 4;  // words ws .. ws + N, ws <= 3
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uint4* base = reinterpret_cast<const uint4*>(a & ~uintptr_t{15});
  const uint32_t ws = static_cast<uint32_t>(a >> 2) & 3u, shift = static_cast<uint32_t>(a & 3) * 8;
  uint32_t v[4 * kVecs];
  LdVectors(base, v);
  uint32_t t[N + 3];
#pragma unroll
  for (int j = 0; j < N + 3; ++j) t[j] = (ws & 1u) ? v[j + 1] : v[j];
  uint32_t s[N + 1];
#pragma unroll
  for (int j = 0; j < N + 1; ++j) s[j] = (ws & 2u) ? t[j + 2] : t[j];
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = __funnelshift_r(s[i], s[i + 1], shift);
}

// N words starting at word kW0 of a 16-byte-aligned shared-memory region, shifted right by
// `shift` bits (0 or 16) across word boundaries: the unit's offset in its slot split into a
// compile-time word part and a run-time half-word part (LdWordsRealigned without the selects).
template <int kW0, int N>
__device__ __forceinline__ void LdWordsAt(const uint8_t* base16, uint32_t shift, uint32_t (&w)[N]) {
  constexpr int kV0 = kW0 / 4, kVecs = (kW0 + N) / 4 - kV0 + 1;  // words kW0 .. kW0 + N
  const uint4* q = reinterpret_cast<const uint4*>(base16) + kV0;
  uint32_t v[4 * kVecs];
  LdVectors(q, v);
#pragma unroll
  for (int i = 0; i < N; ++i) {
    w[i] = __funnelshift_r(v[kW0 - 4 * kV0 + i], v[kW0 - 4 * kV0 + i + 1], shift);
  }
}

// 32 bf16 values as 4 x 16 bytes; bytes(i) gives values 4i..4i+3 (one word's bytes), i = 0..7.
template <typename F>
__device__ __forceinline__ void DecodeWords32(F&& bytes, uint4* out) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint2 lo = bytes(2 * i), hi = bytes(2 * i + 1);
    out[i] = make_uint4(lo.x, lo.y, hi.x, hi.y);
  }
}

// The fma constants of s*u - o.
struct ScaleOffset {
  float a, c;
  __device__ __forceinline__ ScaleOffset(float s, float o) : a(256.0f * s), c(-fmaf(128.0f, s, o)) {}
};

// The packed 6-bit scale and min of sub-block j = 4kP + jj (jj = 0..3) of a Q4_K/Q5_K block,
// get_scale_min_k4 of ggml (spec §3.2) with the j < 4 branch chosen at compile time.
template <int kP>
__device__ __forceinline__ void ScaleMinK4Half(const uint32_t (&s)[3], int jj, int& sc, int& m) {
  const int sh = 8 * jj;
  if constexpr (kP == 0) {
    sc = static_cast<int>((s[0] >> sh) & 63u);
    m = static_cast<int>((s[1] >> sh) & 63u);
  } else {
    sc = static_cast<int>(((s[2] >> sh) & 0xFu) | (((s[0] >> (sh + 6)) & 3u) << 4));
    m = static_cast<int>(((s[2] >> (sh + 4)) & 0xFu) | (((s[1] >> (sh + 6)) & 3u) << 4));
  }
}

// The fma constants of sub-block 4kP + jj of a Q4_K/Q5_K block from its header words (d, dmin,
// then the 12 packed scale bytes): s = d * sc, o = dmin * m.
template <int kP>
__device__ __forceinline__ ScaleOffset KQuantScaleOffset(const uint32_t (&hdr)[4], int jj) {
  const uint32_t scales[3] = {hdr[1], hdr[2], hdr[3]};
  int sc, m;
  ScaleMinK4Half<kP>(scales, jj, sc, m);
  return ScaleOffset(HalfBits(static_cast<uint16_t>(hdr[0])) * static_cast<float>(sc),
                     HalfBits(static_cast<uint16_t>(hdr[0] >> 16)) * static_cast<float>(m));
}

// StageDecoder<T>::Run<kP>(unit, half, out): stage q = 2 kP + half of the unit (kP: which pair
// of stages, known at compile time; half: which stage of the pair, one per decoder warpgroup).
template <GgmlType T>
struct StageDecoder;

// Q4_K: stage q = low nibbles of qs[32q..32q+31] (sub-block 2q) then the high nibbles (2q+1).
template <>
struct StageDecoder<GgmlType::kQ4_K> {
  template <int kP>
  static __device__ __forceinline__ void Run(const uint8_t* b, int half, uint4 (&out)[8]) {
    const int q = 2 * kP + half;
    uint32_t hdr[4], w[8];
    LdWords<16>(b, hdr);
    LdWords<16>(b + 16 + 32 * q, w);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const ScaleOffset so = KQuantScaleOffset<kP>(hdr, 2 * half + h);
      DecodeWords32(
          [&](int i) { return MantissaBytesBf16((w[i] >> (4 * h)) & 0x0F0F0F0Fu, so.a, so.c); },
          out + 4 * h);
    }
  }
};

// Q5_K: as Q4_K (qs at 48), plus bit j of qh[l] as the 5th bit, j = 2q + h.
template <>
struct StageDecoder<GgmlType::kQ5_K> {
  template <int kP>
  static __device__ __forceinline__ void Run(const uint8_t* b, int half, uint4 (&out)[8]) {
    const int q = 2 * kP + half;
    uint32_t hdr[4], qh[8], w[8];
    LdWords<16>(b, hdr);
    LdWords<16>(b + 16, qh);
    LdWords<16>(b + 48 + 32 * q, w);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int j = 2 * q + h;
      const ScaleOffset so = KQuantScaleOffset<kP>(hdr, 2 * half + h);
      DecodeWords32(
          [&](int i) {
            const uint32_t u =
                ((w[i] >> (4 * h)) & 0x0F0F0F0Fu) | (((qh[i] >> j) & 0x01010101u) << 4);
            return MantissaBytesBf16(u, so.a, so.c);
          },
          out + 4 * h);
    }
  }
};

// Q6_K: stage q = runs 2q, 2q+1: half hh = q/2 of the block, g = 2(q&1) + r; 6-bit
// u = nibble | 2 high bits << 4 = v + 32, y = (d*sc)*v, four scales (one per 16 weights).
template <>
struct StageDecoder<GgmlType::kQ6_K> {
  // The slot is 240 bytes (PanelGeometry: 15 words), so every read below stays in it.
  template <int kP>
  static __device__ __forceinline__ void Run(const uint8_t* b, int half, uint4 (&out)[8]) {
    uint32_t ql[16], qh[8], tail[5];
    LdWordsRealigned(b + 64 * kP, ql);
    LdWordsRealigned(b + 128 + 32 * kP, qh);
    LdWordsRealigned(b + 192, tail);  // scales[16], then d
    Expand<kP>(ql, qh, tail, half, out);
  }
  // The same with the unit at byte 4 kWs + shift / 8 of a 16-byte-aligned slot, kWs known at
  // compile time (DecodeStage): no selects.
  template <int kP, int kWs>
  static __device__ __forceinline__ void RunAt(const uint8_t* slot, uint32_t shift, int half,
                                               uint4 (&out)[8]) {
    uint32_t ql[16], qh[8], tail[5];
    LdWordsAt<kWs + 16 * kP>(slot, shift, ql);
    LdWordsAt<kWs + 32 + 8 * kP>(slot, shift, qh);
    LdWordsAt<kWs + 48>(slot, shift, tail);
    Expand<kP>(ql, qh, tail, half, out);
  }

 private:
  // ql: bytes 64hh.., qh: bytes 128 + 32hh.., tail: bytes 192..211 of the block (hh = kP).
  template <int kP>
  static __device__ __forceinline__ void Expand(const uint32_t (&ql)[16], const uint32_t (&qh)[8],
                                                const uint32_t (&tail)[5], int half,
                                                uint4 (&out)[8]) {
    const int hh = kP, odd = half;  // q = 2 kP + half
    const float d = HalfBits(static_cast<uint16_t>(tail[4]));
    // Scales 8hh + 4odd .. +3 (int8).
    const uint32_t sw = odd ? tail[2 * hh + 1] : tail[2 * hh];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int g = 2 * odd + r;
#pragma unroll
      for (int hs = 0; hs < 2; ++hs) {
        const int sc = static_cast<int8_t>((sw >> (8 * (2 * r + hs))) & 0xFF);
        const float s = d * static_cast<float>(sc);
        const ScaleOffset so(s, 32.0f * s);
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          uint2 v[2];
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int wi = 4 * hs + 2 * i + e;  // word of the 32 bytes l = 0..31
            const uint32_t nib = (ql[8 * r + wi] >> (4 * odd)) & 0x0F0F0F0Fu;
            const uint32_t u = nib | (((qh[wi] >> (2 * g)) & 0x03030303u) << 4);
            v[e] = MantissaBytesBf16(u, so.a, so.c);
          }
          out[4 * r + 2 * hs + i] = make_uint4(v[0].x, v[0].y, v[1].x, v[1].y);
        }
      }
    }
  }
};

// Q8_0: stage q = blocks 2q and 2q+1 of the unit's eight (34 bytes each: d, 32 int8).
template <>
struct StageDecoder<GgmlType::kQ8_0> {
  template <int kP>
  static __device__ __forceinline__ void Run(const uint8_t* b, int half, uint4 (&out)[8]) {
    const int q = 2 * kP + half;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const uint8_t* blk = b + (2 * q + r) * 34;
      const float d = HalfBits(Ld16(blk));
      uint32_t w[8];
      LdWords<Codec<GgmlType::kQ8_0>::kAlign>(blk + 2, w);
      const float a = 32768.0f * d, c = -32896.0f * d;
      DecodeWords32([&](int i) { return SignedBytesBf16(w[i], a, c); }, out + 4 * r);
    }
  }
};

// Stage q = 2 kP + half of the unit at byte `off` (even, < 16) of a 16-byte-aligned slot. With
// kUniformOffset (the offset is the same for every row of the block: units by TMA) Q6_K switches
// on the word part of the offset, so its loads need no run-time selects; the switch is uniform
// across the block, so no warp diverges. Units by cp.async sit at different offsets in even and
// odd rows (2520-byte rows at K = 3072), so they keep the run-time realignment.
template <GgmlType T, int kP, bool kUniformOffset>
__device__ __forceinline__ void DecodeStage(const uint8_t* slot, int off, int half,
                                            uint4 (&out)[8]) {
  if constexpr (T == GgmlType::kQ6_K && kUniformOffset) {
    const uint32_t shift = static_cast<uint32_t>(off & 2) * 8;
    switch (off >> 2) {
      case 0:
        StageDecoder<T>::template RunAt<kP, 0>(slot, shift, half, out);
        break;
      case 1:
        StageDecoder<T>::template RunAt<kP, 1>(slot, shift, half, out);
        break;
      case 2:
        StageDecoder<T>::template RunAt<kP, 2>(slot, shift, half, out);
        break;
      default:
        StageDecoder<T>::template RunAt<kP, 3>(slot, shift, half, out);
        break;
    }
  } else {
    StageDecoder<T>::template Run<kP>(slot + off, half, out);
  }
}

}  // namespace ovid::cuda_detail
