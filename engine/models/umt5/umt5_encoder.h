// File: engine/models/umt5/umt5_encoder.h
// The UMT5 text encoder (Ovi's umt5-xxl, shared spec encoders.md §2) over a GGUF file in any
// known key layout (pth, hf, gguf names; umt5_keys.h). Token ids in, one [L, d_model] embedding
// per prompt out: the rows of its real tokens, no padding (what Ovi's denoiser takes; it pads
// to 512 with zeros itself). Several prompts (positive and negatives) run as one padded batch
// with a key mask, which gives each prompt's rows as if it ran alone.
//
// Weights stay resident in a WeightStore: Linear layers through QuantizedLinear (lazy by
// default), a quantized token table looked up row by row. CPU computes in f32; CUDA in bf16
// with f32 norm statistics and softmax, as Ovi runs it. Outputs of identical prompts are
// cached (bounded LRU). Errors come back as Status (bad ids, lengths: INVALID_ARGUMENT).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/umt5/umt5_cache.h"
#include "engine/models/umt5/umt5_layout.h"
#include "engine/models/umt5/umt5_weights.h"
#include "engine/tensor/weight_store.h"

namespace ovid::umt5 {

struct Umt5EncoderOptions {
  c10::Device device = c10::kCPU;
  std::optional<at::ScalarType> dtype;  // activations; default bf16 on CUDA, f32 on the CPU
  LoadOptions load;                     // plain_dtype defaults to the activation dtype
  int64_t max_tokens = 512;             // per prompt, </s> included (Ovi's tokenizer limit)
  size_t cache_entries = 16;            // prompts whose outputs are kept; 0 disables the cache
  // Create a dequant workspace of the encoder's own for callers that bind none. The pipeline
  // turns it off: its worker slots bind theirs (sized for this encoder too, WorkspaceBytes()).
  bool default_workspace = true;
};

class Umt5Encoder {
 public:
  static absl::StatusOr<std::unique_ptr<Umt5Encoder>> Load(const std::string& path,
                                                           Umt5EncoderOptions options = {});
  // From an opened file (tests use GgufFile::FromBuffer).
  static absl::StatusOr<std::unique_ptr<Umt5Encoder>> FromFile(std::unique_ptr<gguf::GgufFile> file,
                                                               Umt5EncoderOptions options = {});

  // One [L_i, d_model] tensor per prompt (model dtype and device), L_i = prompts[i].size(). Each
  // prompt holds 1..max_tokens ids in [0, vocab); the caller appends </s> (id 1) as Ovi's
  // tokenizer does. The tensors may be shared with the cache: treat them as read-only.
  absl::StatusOr<std::vector<at::Tensor>> Encode(
      const std::vector<std::vector<int64_t>>& prompts) const;

  const Umt5FileSpec& spec() const { return spec_; }
  const Umt5Config& config() const { return spec_.config; }
  const WeightStore& store() const { return *store_; }
  // What the encoder's lazy layers expand into at most: its largest quantized Linear without a
  // dense copy, in the compute dtype (not the store's largest tensor, the quantized token
  // table); 0 when none expands (eager mode, an unquantized file).
  int64_t WorkspaceBytes() const { return workspace_bytes_; }
  at::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return store_->device(); }
  bool quantized_embedding() const { return weights_.embedding.quantized(); }
  Umt5CacheStats cache_stats() const { return cache_->Stats(); }

 private:
  Umt5Encoder() = default;
  absl::Status CheckPrompts(const std::vector<std::vector<int64_t>>& prompts) const;
  // The padded batch through every block (throws); one output per prompt.
  std::vector<at::Tensor> Forward(const std::vector<std::vector<int64_t>>& prompts) const;

  std::unique_ptr<WeightStore> store_;
  // WorkspaceBytes() (the store's default size would be the quantized token table's, 2 GB of
  // bf16 for nothing). Null with default_workspace off; used when the caller bound none, and
  // run_mu_ keeps two callers off it at once.
  int64_t workspace_bytes_ = 0;
  std::shared_ptr<DequantWorkspace> workspace_;
  mutable std::mutex run_mu_;
  Umt5FileSpec spec_;
  Umt5Weights weights_;
  at::ScalarType dtype_ = at::kFloat;
  int64_t max_tokens_ = 512;
  std::unique_ptr<Umt5EmbeddingCache> cache_;
};

}  // namespace ovid::umt5
