// File: engine/ops/quant_kernels.h
// The CUDA launchers engine/ops calls, behind one table of function pointers.
//
// kernels/cuda owns the kernels (raw pointers + a stream in, cudaError_t out). This table is the
// only place engine/ops learns their names: quant_kernels.cc fills it from the kernels/cuda
// headers, so wiring a new launcher (or another helper's renamed one) is a change to that one
// file. Entries are null when the launcher is not built (no nvcc, -DOVID_CUDA=OFF, or not written
// yet); quant_ops then falls back (dequantize on the host and upload, or dequantize + GEMM
// instead of the fused kernel). The table itself is torch-free and CUDA-free: a stream travels as
// void* (a cudaStream_t) and an error as its int value (a cudaError_t).
#pragma once

#include <cstdint>

#include "kernels/cpu/dequantize.h"
#include "kernels/ggml_types.h"

namespace ovid::ops {

struct QuantKernels {
  // rows x row_elements values of `type` (rows contiguous) -> dst in `out` format. keep_in_l2:
  // the output is read right away (plain stores rather than streaming ones).
  int (*dequantize)(GgmlType type, const void* blocks, void* dst, int64_t rows,
                    int64_t row_elements, FloatFormat out, bool keep_in_l2,
                    void* stream) = nullptr;
  bool (*dequantize_supports)(GgmlType type) = nullptr;

  // Y[m, n] = X[m, k] . W[n, k]^T (+ bias[n]) with X, Y, bias bf16 row-major (bias may be null)
  // and W raw blocks of `type`. All pointers 16-byte aligned.
  int (*qmatmul)(GgmlType type, const void* w_blocks, const void* x_bf16, void* y_bf16, int64_t m,
                 int64_t n, int64_t k, const void* bias_bf16, void* stream) = nullptr;
  bool (*qmatmul_supports)(GgmlType type) = nullptr;
  // True where qmatmul runs the Hopper panel kernel for (type, k) on the current device (a
  // build with sm_90a code, a compute capability 9 card); elsewhere it runs the portable kernel,
  // which loses to dequantize + cuBLAS from a few dozen tokens on.
  bool (*qmatmul_panel_supports)(GgmlType type, int64_t k) = nullptr;

  // cudaGetErrorString for the ints above.
  const char* (*error_string)(int error) = nullptr;
  // 0 when the current device can run these kernels (the build has code for its architecture),
  // else the cudaError_t a launch would meet.
  int (*runs_here)() = nullptr;
};

// Never null; entries may be.
const QuantKernels& CudaQuantKernels();

}  // namespace ovid::ops
