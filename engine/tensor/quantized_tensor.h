// File: engine/tensor/quantized_tensor.h
// A weight kept in its raw GGUF block form: a contiguous uint8 tensor of blocks on a device
// (or the CPU), its ggml type, and its logical shape in torch order. Nothing is expanded until a
// layer asks (QuantizedLinear) or a caller calls Dequantize().
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ggml_types.h"

namespace ovid {

class QuantizedTensor {
 public:
  QuantizedTensor() = default;

  // `blocks`: contiguous uint8, exactly the bytes `shape` needs in `type` (the last dim is the
  // contiguous one and holds whole blocks). Errors name `name`.
  static absl::StatusOr<QuantizedTensor> FromBlocks(std::string name, GgmlType type,
                                                    std::vector<int64_t> shape, at::Tensor blocks);

  const std::string& name() const { return name_; }
  GgmlType type() const { return type_; }
  const std::vector<int64_t>& shape() const { return shape_; }  // torch order
  const at::Tensor& blocks() const { return blocks_; }
  c10::Device device() const { return blocks_.device(); }

  int64_t row_elements() const { return shape_.empty() ? 1 : shape_.back(); }
  int64_t rows() const { return row_elements() == 0 ? 0 : numel() / row_elements(); }
  int64_t numel() const;
  int64_t nbytes() const { return blocks_.numel(); }  // resident bytes
  int64_t Bf16Bytes() const { return 2 * numel(); }   // what the same weight costs in bf16

  // A fresh dense tensor of `dtype` (f32/f16/bf16) with shape(), on the blocks' device.
  absl::StatusOr<at::Tensor> Dequantize(at::ScalarType dtype) const;

 private:
  std::string name_;
  GgmlType type_ = GgmlType::kF32;
  std::vector<int64_t> shape_;
  at::Tensor blocks_;
};

}  // namespace ovid
