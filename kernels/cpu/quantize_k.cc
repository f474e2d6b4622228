// File: kernels/cpu/quantize_k.cc
// Q2_K..Q6_K following ggml's quantize_row_qX_K_ref (no importance matrix; shared spec ggml.md
// §4.3). Each quantizer fits one scale (and min) per sub-block, quantizes those to 4/6/8 bits
// against a super-block scale stored in f16, then re-quantizes every value against the scales
// as a decoder will see them, so the stored codes are the best ones for the stored scales.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/cpu/quant_fit.h"
#include "kernels/cpu/quantize.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

using quant_fit::NearestInt;

inline int Clamp(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// Packs 256 2-bit codes the way Q2_K and Q3_K store them: byte 32h+l holds elements
// 128h + l + 32g in bits 2g..2g+1.
void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                           (L[j + l + 96] << 6));
    }
  }
}

// Q4_K/Q5_K: 6-bit (scale, min) pairs into 12 bytes (ggml.md §3.2 layout).
void PackScaleMinK4(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32 elements an asymmetric fit weighted by
// rms + |x|, 6-bit scales/mins against f16 d/dmin, then codes L[256] in [0, nmax].
void QuantizeK4K5Scales(const float* x, int nmax, float rmin, int nstep, uint16_t* d_out,
                        uint16_t* dmin_out, uint8_t* scale_bytes, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  uint8_t laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = quant_fit::MakeQkx2Quants(32, nmax, xs, weights, L + 32 * j, &mins[j], laux, rmin,
                                          0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // ggml keeps the low byte of the rounded value, then caps at 63.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_min * mins[j])));
  }
  PackScaleMinK4(ls, lm, scale_bytes);
  *d_out = FloatToHalf(max_scale / 63.f);
  *dmin_out = FloatToHalf(max_min / 63.f);
  const float d_all = HalfToFloat(*d_out), dmin_all = HalfToFloat(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    const float d = d_all * ls[j];
    if (d == 0) continue;
    const float dm = dmin_all * lm[j];
    for (int ii = 0; ii < 32; ++ii) {
      L[32 * j + ii] = static_cast<uint8_t>(Clamp(NearestInt((x[32 * j + ii] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

void QuantizeQ2_K(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ2_K*>(dst);
  uint8_t L[kQK_K], laux[16];
  float weights[16], mins[16], scales[16];
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * j + l]);
      scales[j] = quant_fit::MakeQkx2Quants(16, 3, src + 16 * j, weights, L + 16 * j, &mins[j],
                                            laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; ++j)
        y[i].scales[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
      y[i].d = FloatToHalf(max_scale / 15.f);
    } else {
      memset(y[i].scales, 0, sizeof(y[i].scales));
      y[i].d = FloatToHalf(0.f);
    }
    if (max_min > 0) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; ++j) {
        y[i].scales[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
      }
      y[i].dmin = FloatToHalf(max_min / 15.f);
    } else {
      y[i].dmin = FloatToHalf(0.f);
    }
    const float d_all = HalfToFloat(y[i].d), dmin_all = HalfToFloat(y[i].dmin);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * (y[i].scales[j] & 0xF);
      if (d == 0) continue;
      const float dm = dmin_all * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        L[16 * j + ii] = static_cast<uint8_t>(Clamp(NearestInt((src[16 * j + ii] + dm) / d), 0, 3));
      }
    }
    Pack2Bit(L, y[i].qs);
  }
}

void QuantizeQ3_K(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ3_K*>(dst);
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK_K) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = quant_fit::MakeQ3Quants(16, 4, src + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    memset(y[i].scales, 0, sizeof(y[i].scales));
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        // ggml narrows the rounded value to int8 before clamping; |iscale*s| <= 32 keeps it exact.
        const int8_t rounded = static_cast<int8_t>(NearestInt(iscale * scales[j]));
        const int l = Clamp(rounded, -32, 31) + 32;
        if (j < 8) {
          y[i].scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          y[i].scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        }
        y[i].scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y[i].d = FloatToHalf(1 / iscale);
    } else {
      y[i].d = FloatToHalf(0.f);
    }
    const float d_all = HalfToFloat(y[i].d);
    for (int j = 0; j < 16; ++j) {
      const int lo4 = j < 8 ? (y[i].scales[j] & 0xF) : (y[i].scales[j - 8] >> 4);
      const int sc = (lo4 | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      const float d = d_all * static_cast<float>(sc);
      if (d == 0) continue;
      for (int ii = 0; ii < 16; ++ii) {
        L[16 * j + ii] = static_cast<int8_t>(Clamp(NearestInt(src[16 * j + ii] / d), -4, 3) + 4);
      }
    }
    // The high bit of element j lives in hmask[j % 32], bit j / 32; set means "no -4".
    memset(y[i].hmask, 0, sizeof(y[i].hmask));
    uint8_t low[kQK_K];
    for (int j = 0; j < kQK_K; ++j) {
      int l = L[j];
      if (l > 3) {
        y[i].hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
        l -= 4;
      }
      low[j] = static_cast<uint8_t>(l);
    }
    Pack2Bit(low, y[i].qs);
  }
}

void QuantizeQ4_K(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK_K) {
    QuantizeK4K5Scales(src, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
  }
}

void QuantizeQ5_K(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ5_K*>(dst);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK_K) {
    QuantizeK4K5Scales(src, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
    memset(y[i].qh, 0, sizeof(y[i].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        // The 5th bit of sub-block 2c (low nibbles) / 2c+1 (high nibbles) goes to qh bit 2c/2c+1.
        y[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        y[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void QuantizeQ6_K(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = quant_fit::MakeQxQuants(16, 32, src + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < quant_fit::kGroupMaxEps) {
      memset(&y[i], 0, sizeof(BlockQ6_K));  // all (near) zero: every field 0, d = +0
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = FloatToHalf(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) {
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[ib])));
    }
    const float d_all = HalfToFloat(y[i].d);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * y[i].scales[j];
      if (d == 0) continue;
      for (int ii = 0; ii < 16; ++ii) {
        L[16 * j + ii] = static_cast<int8_t>(Clamp(NearestInt(src[16 * j + ii] / d), -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      uint8_t* ql = y[i].ql + 64 * h;
      uint8_t* qh = y[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
    }
  }
}

}  // namespace ovid
