// File: bench/cuda/stream_ceiling.cu
#include "bench/cuda/stream_ceiling.cuh"

namespace ovid::bench {
namespace {

__global__ void StreamExpandKernel(const uint4* __restrict__ src, uint4* __restrict__ dst,
                                   int64_t n_dst, int shift, bool streaming) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_dst;
       i += stride) {
    if (streaming) {
      __stcs(dst + i, src[i >> shift]);
    } else {
      dst[i] = src[i >> shift];
    }
  }
}

}  // namespace

cudaError_t StreamExpand(const void* src, void* dst, int64_t n_dst, int ratio,
                         cudaStream_t stream, bool streaming) {
  int shift = 0;
  while ((1 << shift) < ratio) ++shift;
  if ((1 << shift) != ratio || n_dst <= 0) return cudaErrorInvalidValue;
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  StreamExpandKernel<<<sms * 8, 256, 0, stream>>>(static_cast<const uint4*>(src),
                                                  static_cast<uint4*>(dst), n_dst, shift,
                                                  streaming);
  return cudaGetLastError();
}

}  // namespace ovid::bench
