// File: kernels/cpu/quant_fit.h
// The scale-fitting searches behind ggml's reference K-quantizers (shared spec ggml.md §4.3),
// written from the algorithm description. Every sum runs in fp32 in index order, because the
// bytes ggml produces depend on that exact order (a different order flips near-tie choices).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"

namespace ovid::quant_fit {

// Sub-blocks whose largest |x| is below this are treated as all zero (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Round half to even through the fp32 adder: adding 1.5 * 2^23 leaves the rounded integer in
// the low mantissa bits. Valid for |f| <= 4194303, like ggml's nearest_int.
inline int NearestInt(float f) {
  const float biased = f + 12582912.f;
  int32_t i;
  memcpy(&i, &biased, sizeof(i));
  return (i & 0x007fffff) - 0x00400000;
}

// A float -> integer truncation that is defined for every input (NaN -> 0, saturating), so
// NaN/Inf input cannot trigger undefined behaviour; finite in-range values truncate like C.
inline int TruncToInt(float f) {
  if (!(f == f)) return 0;
  if (f >= 2147483520.f) return 2147483647;
  if (f <= -2147483648.f) return -2147483647 - 1;
  return static_cast<int>(f);
}

// Round-trip through f16, what ggml does when it re-reads a scale it has just stored.
inline float RoundToHalf(float f) { return HalfToFloat(FloatToHalf(f)); }

// Asymmetric fit x ~ scale * L - the_min, L in [0, nmax], searching nstep+1 trial scales and
// refining (scale, min) by weighted least squares; error is |.| (use_mad) or squared.
// Writes L[0..n), *the_min (>= 0); returns the scale. `laux` is scratch of n bytes.
float MakeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* the_min, uint8_t* laux, float rmin, float rdelta, int nstep,
                     bool use_mad);

// Symmetric fit for Q3_K: L in [-nmax, nmax) then shifted by +nmax; weights x^2 and up to five
// coordinate-descent passes that move one L at a time while the weighted fit improves.
float MakeQ3Quants(int n, int nmax, const float* x, int8_t* L);

// Symmetric fit for Q6_K (ggml's rmse_type 1, no importance weights): weights x^2, the best of
// 19 trial scales -(nmax + 0.1 * is) / max for is = -9..9. L is shifted by +nmax.
float MakeQxQuants(int n, int nmax, const float* x, int8_t* L);

}  // namespace ovid::quant_fit
