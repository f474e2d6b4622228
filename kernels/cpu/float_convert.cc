// File: kernels/cpu/float_convert.cc
// x86-64 fast paths of the bulk f16/bf16 rounding: F16C for f16 and AVX2 (else SSE2) for bf16,
// chosen at run time so the library still runs on any x86-64. Other ISAs use portable loops.
#include "kernels/cpu/float_convert.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define OVID_HAVE_X86_PATHS 1
#endif

namespace ovid {
namespace {

#ifdef OVID_HAVE_X86_PATHS
__attribute__((target("avx,f16c"))) void FloatsToHalvesF16c(const float* src, uint16_t* dst,
                                                            int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(src + i);
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    // vcvtps2ph keeps NaN payload bits; ovid (like ggml) stores the canonical quiet NaN.
    const int nan_lanes = _mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    if (nan_lanes != 0) {
      for (int k = 0; k < 8; ++k) {
        if (nan_lanes & (1 << k)) dst[i + k] = FloatToHalf(src[i + k]);
      }
    }
  }
  FloatsToHalvesPortable(src + i, dst + i, n - i);
}

// CPUID leaf 1: ECX bit 27 OSXSAVE, 28 AVX, 29 F16C; then XCR0 bits 1-2 say the OS saves the
// YMM registers. (clang 14's __builtin_cpu_supports does not know "f16c".)
bool DetectF16c() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  constexpr unsigned kNeed = (1u << 27) | (1u << 28) | (1u << 29);
  if ((c & kNeed) != kNeed) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  return (xcr0_lo & 6u) == 6u;
}

bool CpuHasF16c() {
  static const bool has = DetectF16c();
  return has;
}

// AVX2: CPUID leaf 7 EBX bit 5, on top of the AVX/OS checks above (every AVX2 CPU has F16C).
bool CpuHasAvx2() {
  static const bool has = [] {
    unsigned a, b, c, d;
    return DetectF16c() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5)) != 0;
  }();
  return has;
}

// The SSE2 algorithm below on 8 lanes. packs works within each 128-bit half, so the 64-bit
// quarters are put back in order with one permute.
__attribute__((target("avx2"))) void FloatsToBf16sAvx2(const float* src, uint16_t* dst, int64_t n) {
  const __m256i round_bias = _mm256_set1_epi32(0x7fff);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf_bits = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet_bit = _mm256_set1_epi32(0x00400000);
  auto round8 = [&](__m256i x) __attribute__((target("avx2"))) {
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
    const __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(x, round_bias), lsb);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf_bits);
    const __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(x, quiet_bit), is_nan);
    return _mm256_srai_epi32(r, 16);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = round8(_mm256_castps_si256(_mm256_loadu_ps(src + i)));
    const __m256i hi = round8(_mm256_castps_si256(_mm256_loadu_ps(src + i + 8)));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  FloatsToBf16sPortable(src + i, dst + i, n - i);
}

#endif

}  // namespace

#ifdef OVID_HAVE_X86_PATHS
// SSE2 is part of x86-64, so this needs no run-time check.
void FloatsToBf16sSse2(const float* src, uint16_t* dst, int64_t n) {
  const __m128i round_bias = _mm_set1_epi32(0x7fff);
  const __m128i one = _mm_set1_epi32(1);
  const __m128i abs_mask = _mm_set1_epi32(0x7fffffff);
  const __m128i inf_bits = _mm_set1_epi32(0x7f800000);
  const __m128i quiet_bit = _mm_set1_epi32(0x00400000);
  auto round4 = [&](__m128i x) {
    const __m128i lsb = _mm_and_si128(_mm_srli_epi32(x, 16), one);
    const __m128i rounded = _mm_add_epi32(_mm_add_epi32(x, round_bias), lsb);
    // Both sides are non-negative as int32, so the signed compare is the unsigned one.
    const __m128i is_nan = _mm_cmpgt_epi32(_mm_and_si128(x, abs_mask), inf_bits);
    const __m128i nan = _mm_or_si128(x, quiet_bit);
    const __m128i r = _mm_or_si128(_mm_and_si128(is_nan, nan), _mm_andnot_si128(is_nan, rounded));
    // Arithmetic shift: the high halves come out sign-extended, so packs never saturates.
    return _mm_srai_epi32(r, 16);
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i lo = round4(_mm_castps_si128(_mm_loadu_ps(src + i)));
    const __m128i hi = round4(_mm_castps_si128(_mm_loadu_ps(src + i + 4)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packs_epi32(lo, hi));
  }
  FloatsToBf16sPortable(src + i, dst + i, n - i);
}
#endif

void FloatsToBf16s(const float* src, uint16_t* dst, int64_t n) {
#ifdef OVID_HAVE_X86_PATHS
  if (CpuHasAvx2()) {
    FloatsToBf16sAvx2(src, dst, n);
    return;
  }
  FloatsToBf16sSse2(src, dst, n);
#else
  FloatsToBf16sPortable(src, dst, n);
#endif
}

void FloatsToHalves(const float* src, uint16_t* dst, int64_t n) {
#ifdef OVID_HAVE_X86_PATHS
  if (CpuHasF16c()) {
    FloatsToHalvesF16c(src, dst, n);
    return;
  }
#endif
  FloatsToHalvesPortable(src, dst, n);
}

}  // namespace ovid
