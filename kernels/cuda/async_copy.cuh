// File: kernels/cuda/async_copy.cuh
// Device-only helpers for Ampere+ asynchronous global->shared copies (cp.async), shared by the
// dequantization and fused matmul kernels. Internal to kernels/cuda: included by .cu files only.
#pragma once

#include <cstdint>

namespace ovid::cuda_detail {

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy of src_bytes (<= 16) bytes; the rest of the 16 is zero-filled, so
// src_bytes = 0 zero-fills the destination without reading.
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}

// The 16-byte word at src, read only up to `end` (a buffer's end that may fall inside the word,
// e.g. the last covering word of a tensor whose byte size is not a multiple of 16).
__device__ __forceinline__ void CpAsync16Until(uint32_t dst, const uint8_t* src,
                                               const uint8_t* end) {
  const int64_t left = end - src;
  CpAsync16(dst, src, left < 16 ? static_cast<int>(left) : 16);
}

// 8-byte async copy (the .ca form: .cg copies 16 bytes only); both addresses 8-byte aligned.
__device__ __forceinline__ void CpAsync8(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dst), "l"(src));
}

__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most N committed groups are still in flight.
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace ovid::cuda_detail
