// File: engine/models/umt5/umt5_encoder.cc
#include "engine/models/umt5/umt5_encoder.h"

#include <ATen/ops/full.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/umt5/umt5_layers.h"
#include "engine/ops/shared_tensors.h"
#include "engine/ops/torch_status.h"

namespace ovid::umt5 {
namespace {

// The mask value for padded keys: the dtype's lowest finite value, as the original (finfo.min),
// not -inf. f32's lowest would round to -inf in bf16 and f16, hence one per dtype.
double LowestOf(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16:
      return static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf:
      return static_cast<float>(std::numeric_limits<c10::Half>::lowest());
    default:
      return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Umt5Encoder>> Umt5Encoder::Load(const std::string& path,
                                                               Umt5EncoderOptions options) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  return FromFile(std::move(file), std::move(options));
}

absl::StatusOr<std::unique_ptr<Umt5Encoder>> Umt5Encoder::FromFile(
    std::unique_ptr<gguf::GgufFile> file, Umt5EncoderOptions options) {
  // The tensor set is checked before a byte moves to the device.
  OVID_ASSIGN_OR_RETURN(Umt5FileSpec spec, ReadUmt5Spec(*file));
  const at::ScalarType dtype = options.dtype.value_or(ComputeDtype(options.device));
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) {
    return absl::InvalidArgumentError("UMT5 activations must be f32, bf16 or f16");
  }
  if (options.max_tokens <= 0) {
    return absl::InvalidArgumentError("UMT5 max_tokens must be positive");
  }
  if (!options.load.plain_dtype) options.load.plain_dtype = dtype;
  // f32 asked for on CUDA: the reference run, f32 throughout (not the bf16 matmuls of the
  // production path), so it can be held against the CPU and transformers.
  if (dtype == at::kFloat && options.device.is_cuda()) options.load.linear.exact_f32 = true;
  std::unique_ptr<Umt5Encoder> enc(new Umt5Encoder());
  OVID_ASSIGN_OR_RETURN(enc->store_,
                        WeightStore::FromFile(std::move(file), options.device, options.load));
  OVID_ASSIGN_OR_RETURN(enc->weights_, BindUmt5Weights(*enc->store_, spec));
  // The largest Linear that expands its blocks per call (not an unquantized one, nor one with a
  // dense copy: eager, cached), in the store's compute dtype (f32 under exact_f32).
  int64_t largest = 0;
  for (const Umt5BlockWeights& b : enc->weights_.blocks) {
    for (const QuantizedLinear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) {
      if (l->weight() != nullptr && !l->has_dense()) {
        largest = std::max(largest, l->in_features() * l->out_features());
      }
    }
  }
  enc->workspace_bytes_ =
      largest * static_cast<int64_t>(c10::elementSize(enc->store_->compute_dtype()));
  if (options.default_workspace) {
    OVID_ASSIGN_OR_RETURN(enc->workspace_, enc->store_->NewWorkspace(enc->workspace_bytes_));
  }
  enc->spec_ = std::move(spec);
  enc->dtype_ = dtype;
  enc->max_tokens_ = options.max_tokens;
  enc->cache_ = std::make_unique<Umt5EmbeddingCache>(options.cache_entries);
  return enc;
}

absl::Status Umt5Encoder::CheckPrompts(const std::vector<std::vector<int64_t>>& prompts) const {
  if (prompts.empty()) return absl::InvalidArgumentError("UMT5: no prompts to encode");
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int64_t n = static_cast<int64_t>(prompts[i].size());
    if (n == 0 || n > max_tokens_) {
      return absl::InvalidArgumentError(
          absl::StrCat("UMT5: prompt ", i, " has ", n, " tokens; 1 to ", max_tokens_, " allowed"));
    }
    for (int64_t id : prompts[i]) {
      if (id < 0 || id >= spec_.config.vocab) {
        return absl::InvalidArgumentError(absl::StrCat("UMT5: prompt ", i, " has token id ", id,
                                                       ", outside [0, ", spec_.config.vocab, ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<at::Tensor>> Umt5Encoder::Encode(
    const std::vector<std::vector<int64_t>>& prompts) const {
  OVID_RETURN_IF_ERROR(CheckPrompts(prompts));
  std::vector<at::Tensor> out(prompts.size());
  std::vector<std::vector<int64_t>> todo;  // distinct uncached prompts
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (std::optional<at::Tensor> hit = cache_->Get(prompts[i])) {
      // Made on another job's stream, perhaps: keep its memory until our reads are done.
      ops::MarkReadOnCurrentStream(*hit);
      out[i] = *hit;
    } else if (std::find(todo.begin(), todo.end(), prompts[i]) == todo.end()) {
      todo.push_back(prompts[i]);
    }
  }
  if (!todo.empty()) {
    OwnOrBoundWorkspace bind(workspace_.get(), run_mu_);
    OVID_ASSIGN_OR_RETURN(std::vector<at::Tensor> encoded,
                          ops::GuardTorch("UMT5 encode", [&] { return Forward(todo); }));
    // A cache entry is read at once by jobs on other streams: it must be complete when stored.
    if (cache_->capacity() > 0) {
      OVID_RETURN_IF_ERROR(ops::WaitForCurrentStream(device(), "UMT5 encode"));
    }
    for (size_t j = 0; j < todo.size(); ++j) {
      cache_->Put(todo[j], encoded[j]);
      for (size_t i = 0; i < prompts.size(); ++i) {
        if (!out[i].defined() && prompts[i] == todo[j]) out[i] = encoded[j];
      }
    }
  }
  return out;
}

std::vector<at::Tensor> Umt5Encoder::Forward(
    const std::vector<std::vector<int64_t>>& prompts) const {
  const Umt5Config& c = spec_.config;
  const int64_t b = static_cast<int64_t>(prompts.size());
  int64_t s = 0;
  for (const auto& p : prompts) s = std::max<int64_t>(s, static_cast<int64_t>(p.size()));
  // Padded ids (pad = 0, as Ovi's tokenizer pads) and the additive key mask.
  std::vector<int64_t> ids(static_cast<size_t>(b * s), 0);
  at::Tensor mask = at::full({b, 1, 1, s}, 0.0,
                             at::TensorOptions().dtype(dtype_).device(at::kCPU));  // [B,1,1,S]
  for (int64_t i = 0; i < b; ++i) {
    const auto& p = prompts[i];
    std::copy(p.begin(), p.end(), ids.begin() + i * s);
    const int64_t len = static_cast<int64_t>(p.size());
    if (len < s) mask[i].narrow(-1, len, s - len).fill_(LowestOf(dtype_));
  }
  mask = mask.to(device());
  at::Tensor x = ops::ValueOrThrow(weights_.embedding.Lookup(ids, dtype_))
                     .view({b, s, c.d_model});                 // [B, S, D]
  const at::Tensor buckets = RelativeBuckets(s, c, device());  // [S, S]
  for (const Umt5BlockWeights& blk : weights_.blocks) x = Umt5Block(blk, c, x, mask, buckets);
  x = RmsNorm(x, weights_.final_norm, c.eps);  // [B, S, D]
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < b; ++i) {
    // A copy, so a cached entry holds its own rows, not the whole padded batch.
    out.push_back(x[i].narrow(0, 0, static_cast<int64_t>(prompts[i].size())).clone());
  }
  return out;
}

}  // namespace ovid::umt5
