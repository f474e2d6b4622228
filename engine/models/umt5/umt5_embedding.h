// File: engine/models/umt5/umt5_embedding.h
// The token embedding table, looked up row by row. A quantized table stays as raw blocks: a
// lookup gathers the blocks of the requested rows (a few KB) and expands only those, so
// umt5-xxl's [256384, 4096] table costs its quantized size (Q8_0: 1.1 GB) instead of 2.1 GB of
// bf16, and no dense copy is ever made. A plain table is indexed as is.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor/quantized_tensor.h"
#include "engine/tensor/weight_store.h"

namespace ovid::umt5 {

class TokenEmbedding {
 public:
  TokenEmbedding() = default;

  // Binds tensor `name` [vocab, dim] of `store` (quantized if the store holds it so).
  static absl::StatusOr<TokenEmbedding> Bind(const WeightStore& store, const std::string& name,
                                             int64_t vocab, int64_t dim);

  // Rows `ids` (host values; each in [0, vocab), else INVALID_ARGUMENT naming the id) as a
  // [ids.size(), dim] tensor of `dtype` on the table's device.
  absl::StatusOr<at::Tensor> Lookup(const std::vector<int64_t>& ids, at::ScalarType dtype) const;

  bool quantized() const { return quantized_ != nullptr; }
  int64_t vocab() const { return vocab_; }
  int64_t dim() const { return dim_; }

 private:
  at::Tensor dense_;                                  // [vocab, dim] when plain
  std::shared_ptr<const QuantizedTensor> quantized_;  // when held as blocks
  int64_t vocab_ = 0;
  int64_t dim_ = 0;
};

}  // namespace ovid::umt5
