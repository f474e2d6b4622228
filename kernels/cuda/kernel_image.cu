// File: kernels/cuda/kernel_image.cu
#include "kernels/cuda/kernel_image.cuh"

namespace ovid {
namespace {

// Compiled with the same -gencode list as every other kernel of this library: if the device has
// code for this one, it has code for them all.
__global__ void ProbeKernel() {}

}  // namespace

cudaError_t CudaKernelsRunHere() {
  cudaFuncAttributes attributes;
  const cudaError_t err = cudaFuncGetAttributes(&attributes, ProbeKernel);
  if (err != cudaSuccess) cudaGetLastError();  // not sticky: leave nothing for the next call
  return err;
}

}  // namespace ovid
