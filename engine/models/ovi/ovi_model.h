// File: engine/models/ovi/ovi_model.h
// The Ovi fusion denoiser (spec ovi.md §3) over a GGUF file: one velocity prediction for the
// video and audio latents at one timestep. Weights stay resident in a WeightStore (quantized
// Linear layers lazily expanded per call). Per request the sampler calls PrepareContext once
// (text embedding and every block's text-attention K/V) and Forward once per pass, or
// ForwardGuided once per step for both guidance passes as one batch.
//
// CPU computes in f32; CUDA in bf16 with norms and softmax in f32. Errors come back as Status:
// bad inputs are INVALID_ARGUMENT; nothing here aborts on request data.
#pragma once

#include <ATen/core/Tensor.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_block.h"
#include "engine/models/ovi/ovi_rope.h"
#include "engine/models/ovi/ovi_weights.h"
#include "engine/tensor/weight_store.h"

namespace ovid::ovi {

struct OviModelOptions {
  c10::Device device = c10::kCPU;
  std::optional<at::ScalarType> dtype;          // activations; default bf16 on CUDA, f32 on the CPU
  LoadOptions load;                             // plain_dtype defaults to the activation dtype
  std::string fallback_variant = "720x720_5s";  // when the file has no ovi.variant
  // Create a dequant workspace of the model's own for callers that bind none. The pipeline
  // turns it off: each of its worker slots binds its own, and a spare one would cost one dense
  // layer of device memory (88 MB at full size) for nothing.
  bool default_workspace = true;
  // Attention backend for every attention call (engine/ops/attention.h).
  ops::AttentionBackend attention = ops::AttentionBackend::kDefault;
  // Norm/RoPE/modulation/residual chains through the fused kernels where they apply (bf16 on
  // CUDA); false keeps the plain ATen chains (the reference, and the bench's baseline).
  bool fused_elementwise = true;
  // Both guidance passes run as one batch-2 forward (the pipeline's BatchGuidance): the cache
  // planner then counts one dequantize per step at twice the rows, not two.
  bool guidance_batched = false;
};

// Everything of a request that depends only on the text prompts: per block and tower, the
// text-attention keys and values. Reused across steps (and shared by the towers' passes).
struct OviContextCache {
  std::vector<TextKv> video;  // [num_layers]
  std::vector<TextKv> audio;  // [num_layers]
};

struct OviForwardInputs {
  at::Tensor video_latent;  // [C_v, F, H, W], any float dtype, any device
  at::Tensor audio_latent;  // [L, C_a]
  double timestep = 0;      // on the 0..1000 scale
};

struct OviForwardOptions {
  // I2V: the first latent frame's tokens get t = 0 (their own modulation rows).
  bool first_frame_clean = false;
  // Skip-layer guidance: block `slg_layer` is skipped for both towers. As in Ovi's code
  // (`if slg_layer > 0 and i == slg_layer`), 0 and negative values skip nothing. In
  // ForwardGuided it applies to the negative sample only, as it does to the negative pass.
  int slg_layer = -1;
};

struct OviForwardOutputs {
  at::Tensor video;  // [C_v, F, H, W] velocity, model dtype, model device
  at::Tensor audio;  // [L, C_a]
};

struct OviGuidedOutputs {
  OviForwardOutputs positive;
  OviForwardOutputs negative;
};

class OviModel {
 public:
  static absl::StatusOr<std::unique_ptr<OviModel>> Load(const std::string& path,
                                                        OviModelOptions options = {});
  // From an opened file (tests use GgufFile::FromBuffer).
  static absl::StatusOr<std::unique_ptr<OviModel>> FromFile(std::unique_ptr<gguf::GgufFile> file,
                                                            OviModelOptions options = {});

  const OviModelSpec& spec() const { return spec_; }
  const OviWeights& weights() const { return weights_; }
  const WeightStore& store() const { return *store_; }
  at::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return store_->device(); }

  // video_context / audio_context: [Lt, text_dim] encoder output without padding (Lt <=
  // text_len), any float dtype.
  absl::StatusOr<OviContextCache> PrepareContext(const at::Tensor& video_context,
                                                 const at::Tensor& audio_context) const;

  absl::StatusOr<OviForwardOutputs> Forward(const OviForwardInputs& inputs,
                                            const OviContextCache& context,
                                            const OviForwardOptions& options = {}) const;

  // Both guidance passes of a denoising step as one batch-2 forward: sample 0 with `positive`,
  // sample 1 with `negative`, the negative sample skipping block options.slg_layer (the positive
  // one runs it alone). The same results as Forward(positive) and Forward(negative, slg) within
  // the GEMMs' rounding, but every linear layer runs once over both samples: the lazy layers
  // expand each weight once per step instead of twice, and the audio tower's small GEMMs are
  // twice as tall. Activations take twice the memory of one pass.
  absl::StatusOr<OviGuidedOutputs> ForwardGuided(const OviForwardInputs& inputs,
                                                 const OviContextCache& positive,
                                                 const OviContextCache& negative,
                                                 const OviForwardOptions& options = {}) const;

  // Time embedding of one tower: e [B, D] and e0 [B, 6, D] for timesteps t [B] (fp64).
  std::pair<at::Tensor, at::Tensor> TimeEmbedding(const OviTowerWeights& w,
                                                  const at::Tensor& t) const;

 private:
  OviModel() = default;
  static absl::StatusOr<std::unique_ptr<OviModel>> Build(std::unique_ptr<WeightStore> store,
                                                         at::ScalarType dtype,
                                                         const OviModelOptions& options);
  // One sample of a batch: its text context and the block it skips (<= 0: none).
  struct BatchSample {
    const OviContextCache* context;
    int slg_layer;
  };
  absl::Status CheckForward(const OviForwardInputs& inputs,
                            std::initializer_list<const OviContextCache*> contexts) const;
  // A batch of 1 or 2 samples over the same latents and timestep.
  std::vector<OviForwardOutputs> ForwardImpl(const OviForwardInputs& inputs,
                                             const std::vector<BatchSample>& samples,
                                             bool first_frame_clean) const;

  std::unique_ptr<WeightStore> store_;
  // Bound to the calling thread in Forward/PrepareContext unless the caller bound its own (null
  // without OviModelOptions::default_workspace: callers must then bind one). One
  // workspace serves one job at a time: concurrent callers (workers) each bind their own
  // (ScopedWorkspace around the call), and callers that bind none take turns on this one
  // (workspace_mu_).
  std::shared_ptr<DequantWorkspace> workspace_;
  mutable std::mutex workspace_mu_;
  OviModelSpec spec_;
  OviWeights weights_;
  at::ScalarType dtype_ = at::kFloat;
  BlockExec exec_;  // heads, attention backend, fused kernels
  mutable RopeCache rope_;
};

}  // namespace ovid::ovi
