// File: engine/models/umt5/umt5_weights.h
// The UMT5 encoder's parameters bound from a WeightStore by canonical name (the file's own names
// come from the spec's layout). Linear weights stay as the store gives them (quantized ones as
// lazy QuantizedLinear); norms and relative-bias tables are dense tensors in the store's plain
// dtype; the token embedding stays quantized when the file has it so (umt5_embedding.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/umt5/umt5_embedding.h"
#include "engine/models/umt5/umt5_layout.h"
#include "engine/tensor/quantized_linear.h"
#include "engine/tensor/weight_store.h"

namespace ovid::umt5 {

struct Umt5BlockWeights {
  at::Tensor norm1;         // [d_model]
  at::Tensor rel_bias;      // [buckets, heads]: this block's own table (UMT5; T5 shares block 0's)
  QuantizedLinear q, k, v;  // d_model -> inner
  QuantizedLinear o;        // inner -> d_model
  at::Tensor norm2;         // [d_model]
  QuantizedLinear gate;     // d_model -> d_ff, the GELU branch (wi_0)
  QuantizedLinear up;       // d_model -> d_ff, the linear branch (wi_1)
  QuantizedLinear down;     // d_ff -> d_model (wo)
};

struct Umt5Weights {
  TokenEmbedding embedding;  // [vocab, d_model]
  std::vector<Umt5BlockWeights> blocks;
  at::Tensor final_norm;  // [d_model]
};

// Binds every parameter; `spec` must come from the store's file (ReadUmt5Spec).
absl::StatusOr<Umt5Weights> BindUmt5Weights(const WeightStore& store, const Umt5FileSpec& spec);

}  // namespace ovid::umt5
