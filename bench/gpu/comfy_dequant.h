// File: bench/gpu/comfy_dequant.h
// The baseline ovid is measured against: dequantization the way ComfyUI-GGUF does it by default
// (dequant.py, dequant_dtype=None), re-written here with plain ATen ops. Raw uint8 blocks are
// reshaped to (n_blocks, type_size), split into their fields, decoded with shifts and masks
// (one elementwise kernel per op, every intermediate in device memory) and scaled in fp16, the
// dtype of the GGUF scale fields; the result is cast to the compute dtype afterwards. That op
// sequence, not the arithmetic, is what the baseline stands for, so it is kept op for op,
// including the per-call creation of the small shift tensors on the device.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "kernels/ggml_types.h"

namespace ovid::bench {

// True for the types the baseline implements (Q4_K, Q6_K, Q8_0).
bool HasComfyDequant(GgmlType type);

// `raw`: contiguous uint8 blocks of a [out, in] weight on a CUDA device. Returns [out, in] in
// `dtype` (ComfyUI: dequantize(...).to(dtype)). Throws c10::Error on a torch error.
at::Tensor ComfyDequantize(GgmlType type, const at::Tensor& raw, int64_t out, int64_t in,
                           at::ScalarType dtype);

// F.linear(x, ComfyDequantize(...), bias), as ComfyUI-GGUF's GGMLLayer.forward runs it.
at::Tensor ComfyLinear(const at::Tensor& x, GgmlType type, const at::Tensor& raw, int64_t out,
                       int64_t in, const at::Tensor& bias);

}  // namespace ovid::bench
