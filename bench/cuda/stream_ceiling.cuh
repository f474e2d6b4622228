// File: bench/cuda/stream_ceiling.cuh
// A streaming kernel with a chosen read:write byte ratio, to measure what bandwidth a kernel
// whose traffic is mostly writes can reach at all (dequantization reads 0.56 bytes and writes
// 2 per element for Q4_K -> bf16: 22% reads). Each 16-byte output vector i copies source vector
// i / ratio, so the source is read once and the output written once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ovid::bench {

// dst (n_dst 16-byte vectors) <- src (n_dst / ratio vectors); ratio a power of two >= 1.
// streaming: st.global.cs stores (evict-first lines), as the dequantization's default.
cudaError_t StreamExpand(const void* src, void* dst, int64_t n_dst, int ratio, cudaStream_t stream,
                         bool streaming = false);

}  // namespace ovid::bench
