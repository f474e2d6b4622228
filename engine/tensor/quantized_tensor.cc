// File: engine/tensor/quantized_tensor.cc
#include "engine/tensor/quantized_tensor.h"

#include <ATen/ops/empty.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"

namespace ovid {

absl::StatusOr<QuantizedTensor> QuantizedTensor::FromBlocks(std::string name, GgmlType type,
                                                            std::vector<int64_t> shape,
                                                            at::Tensor blocks) {
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (!info.quantized || !info.dequantizable) {
    return absl::UnimplementedError(absl::StrCat("tensor '", name, "' has ggml type ", info.name,
                                                 ", which ovid cannot keep quantized"));
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': negative dim"));
    numel *= d;
  }
  const int64_t row = shape.empty() ? 1 : shape.back();
  if (row % info.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' [", absl::StrJoin(shape, ", "), "]: last dim is not a multiple of ",
        info.name, "'s block size ", info.block_size));
  }
  const int64_t want = row == 0 ? 0 : numel / row * GgmlRowBytes(type, row);
  if (!blocks.defined() || blocks.scalar_type() != at::kByte || !blocks.is_contiguous() ||
      blocks.numel() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': blocks must be contiguous uint8 of ", want,
                     " bytes, got ", blocks.defined() ? blocks.numel() : 0));
  }
  QuantizedTensor t;
  t.name_ = std::move(name);
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.blocks_ = std::move(blocks);
  return t;
}

int64_t QuantizedTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

absl::StatusOr<at::Tensor> QuantizedTensor::Dequantize(at::ScalarType dtype) const {
  return ops::GuardTorch("dequantize", [&]() -> absl::StatusOr<at::Tensor> {
    at::Tensor out = at::empty(shape_, blocks_.options().dtype(dtype));
    absl::Status s = ops::DequantizeInto(type_, blocks_, rows(), row_elements(), out);
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("tensor '", name_, "': ", s.message()));
    return out;
  });
}

}  // namespace ovid
