// File: engine/ops/st_dtype.cc
#include "engine/ops/st_dtype.h"

namespace ovid::ops {

std::optional<at::ScalarType> TorchFloatType(gguf::StDtype dtype) {
  switch (dtype) {
    case gguf::StDtype::kF64:
      return at::kDouble;
    case gguf::StDtype::kF32:
      return at::kFloat;
    case gguf::StDtype::kF16:
      return at::kHalf;
    case gguf::StDtype::kBF16:
      return at::kBFloat16;
    case gguf::StDtype::kF8E4M3:
      return at::kFloat8_e4m3fn;
    case gguf::StDtype::kF8E5M2:
      return at::kFloat8_e5m2;
    default:
      return std::nullopt;
  }
}

}  // namespace ovid::ops
