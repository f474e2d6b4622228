// File: tests/engine/engine_test_util.h
// Shared pieces of the LibTorch engine tests: devices, the reference linear, comparisons.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"

namespace ovid::testing {

// True if a CUDA device is usable (GPU tests GTEST_SKIP() otherwise).
bool HaveCuda();
// CUDA devices LibTorch sees (0 without CUDA).
int CudaDeviceCount();

// Reference weight: the file's blocks expanded by the CPU reference dequantizer to f32,
// [rows, row_elements], in a freshly allocated (torch-aligned) CPU tensor.
at::Tensor ReferenceWeight(GgmlType type, const void* blocks, int64_t rows, int64_t row_elements);

// Random activations [shape] of `dtype` on `device`.
at::Tensor RandomInput(const std::vector<int64_t>& shape, at::ScalarType dtype, c10::Device device,
                       uint64_t seed);

// True if a and b have equal shapes, dtypes and bits.
bool BitEqual(const at::Tensor& a, const at::Tensor& b);

// max|a - b| / max|b| (computed in f32 on the CPU).
double RelativeMaxError(const at::Tensor& a, const at::Tensor& b);

}  // namespace ovid::testing
