// File: engine/ops/quant_kernels.cc
// Binds QuantKernels to the kernels/cuda launchers (kernels/cuda/dequantize.cuh,
// fused_matmul.cuh, fused_matmul_panel.cuh). This is the one file to touch when those launchers
// change.
#include "engine/ops/quant_kernels.h"

#ifdef OVID_HAVE_CUDA_KERNELS
#include <cuda_runtime.h>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/fused_matmul.cuh"
#include "kernels/cuda/fused_matmul_panel.cuh"
#include "kernels/cuda/kernel_image.cuh"
#endif

namespace ovid::ops {

const QuantKernels& CudaQuantKernels() {
  static const QuantKernels table = [] {
    QuantKernels t;
#ifdef OVID_HAVE_CUDA_KERNELS
    t.dequantize = [](GgmlType type, const void* blocks, void* dst, int64_t rows,
                      int64_t row_elements, FloatFormat out, bool keep_in_l2, void* stream) {
      return static_cast<int>(DequantizeCuda(
          type, blocks, dst, out, rows, row_elements, static_cast<cudaStream_t>(stream),
          keep_in_l2 ? DequantCaching::kKeepInL2 : DequantCaching::kStream));
    };
    t.dequantize_supports = &DequantizeCudaSupports;
    t.qmatmul = [](GgmlType type, const void* w, const void* x, void* y, int64_t m, int64_t n,
                   int64_t k, const void* bias, void* stream) {
      return static_cast<int>(
          FusedMatmul(type, w, x, y, m, n, k, bias, static_cast<cudaStream_t>(stream)));
    };
    t.qmatmul_supports = &FusedMatmulSupports;
    t.qmatmul_panel_supports = &FusedPanelSupports;
    t.error_string = [](int error) { return cudaGetErrorString(static_cast<cudaError_t>(error)); };
    t.runs_here = [] { return static_cast<int>(CudaKernelsRunHere()); };
#endif
    return t;
  }();
  return table;
}

}  // namespace ovid::ops
