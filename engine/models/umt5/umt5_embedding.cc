// File: engine/models/umt5/umt5_embedding.cc
#include "engine/models/umt5/umt5_embedding.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/index_select.h>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "kernels/ggml_types.h"

namespace ovid::umt5 {

absl::StatusOr<TokenEmbedding> TokenEmbedding::Bind(const WeightStore& store,
                                                    const std::string& name, int64_t vocab,
                                                    int64_t dim) {
  TokenEmbedding e;
  e.vocab_ = vocab;
  e.dim_ = dim;
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> q = store.Quantized(name);
  if (q.ok()) {
    if ((*q)->shape() != std::vector<int64_t>{vocab, dim}) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", store.file().path(),
                                                     " is not [", vocab, ", ", dim, "]"));
    }
    e.quantized_ = *std::move(q);
    return e;
  }
  // Not quantized (or expanded at load in eager mode): the store's dense tensor.
  if (q.status().code() == absl::StatusCode::kNotFound) return q.status();
  OVID_ASSIGN_OR_RETURN(e.dense_, store.Tensor(name, {vocab, dim}));
  return e;
}

absl::StatusOr<at::Tensor> TokenEmbedding::Lookup(const std::vector<int64_t>& ids,
                                                  at::ScalarType dtype) const {
  // Ids come from requests and the CUDA gather cannot report a bad one: check them here.
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the vocabulary [0, ", vocab_, ")"));
    }
  }
  const c10::Device device = quantized_ ? quantized_->device() : dense_.device();
  const int64_t n = static_cast<int64_t>(ids.size());
  return ops::GuardTorch("UMT5 token embedding", [&]() -> absl::StatusOr<at::Tensor> {
    const at::Tensor index =
        at::from_blob(const_cast<int64_t*>(ids.data()), {n}, at::TensorOptions().dtype(at::kLong))
            .to(device);  // [n]; on the CPU a view of `ids`, used only inside this call
    if (!quantized_) return dense_.index_select(0, index).to(dtype);  // [n, dim]
    // Rows are whole blocks, so a row's bytes are contiguous: gather them, expand only those.
    const GgmlType type = quantized_->type();
    const int64_t row_bytes = GgmlRowBytes(type, dim_);
    const at::Tensor rows =
        quantized_->blocks().view({vocab_, row_bytes}).index_select(0, index);  // [n, row_bytes]
    at::Tensor out = at::empty({n, dim_}, at::TensorOptions().dtype(dtype).device(device));
    OVID_RETURN_IF_ERROR(ops::DequantizeInto(type, rows, n, dim_, out));
    return out;  // [n, dim]
  });
}

}  // namespace ovid::umt5
