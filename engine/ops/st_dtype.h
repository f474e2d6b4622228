// File: engine/ops/st_dtype.h
// The LibTorch dtype of a safetensors float dtype: one table for every reader of safetensors
// weights or inputs (ovid-forward's inputs, the Wan VAE's weights).
#pragma once

#include <ATen/core/ScalarType.h>

#include <optional>

#include "engine/gguf/safetensors_file.h"

namespace ovid::ops {

// nullopt for the integer and boolean dtypes (and anything not a float).
std::optional<at::ScalarType> TorchFloatType(gguf::StDtype dtype);

}  // namespace ovid::ops
