// File: engine/models/wan_vae/wan_vae.h
// The Wan2.2 video VAE (spec encoders.md §3): latents [48, F, h, w] -> video [3, 4(F-1)+1, 16h,
// 16w] in [-1, 1], and back: video [3, 1+4k, H, W] -> [48, 1+k, H/16, W/16] (image-to-video
// encodes its first frame alone).
//
// Loads a safetensors file in the original (Wan2.2_VAE.pth) or the diffusers (AutoencoderKLWan)
// layout; the config comes from the tensor shapes. Decoding runs chunk by chunk in latent time
// with causal caches, so memory is bounded by the chunk, not the clip; each chunk's frames go to
// the output device (the host by default) as soon as they exist. Compute is fp32 (the
// original's; CUDA convs may use TF32 as PyTorch's default does) or bf16.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/models/wan_vae/wan_vae_config.h"
#include "engine/models/wan_vae/wan_vae_keys.h"

namespace ovid::wan_vae {

struct WanVaeWeights;

struct WanVaeOptions {
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;  // f32 or bf16 (weights, activations and caches)
  bool round_through_bf16 = false;    // Ovi's bf16-rounded weights, see wan_vae_weights.h
  bool load_encoder = true;           // false: decoder only (saves the encoder's memory)
};

struct DecodeOptions {
  // Latent frames per chunk: 1 is the original's loop; more trades memory for fewer launches.
  int64_t chunk_frames = 1;
  // > 0: inside the decoder, stage inputs longer than this run in pieces of this many frames
  // (same result, smaller high-resolution transients; see wan_vae_decoder.h). 0: whole chunks.
  int64_t stage_frames = 0;
  // Where the video is assembled (default: the host, so device memory holds one chunk).
  std::optional<c10::Device> output_device;
  // Called after each chunk with (latent frames done, total); a non-OK status stops the decode
  // and is returned (cancellation).
  std::function<absl::Status(int64_t, int64_t)> on_chunk;
};

class WanVae {
 public:
  static absl::StatusOr<std::unique_ptr<WanVae>> Load(const std::string& path,
                                                      const WanVaeOptions& options = {});
  ~WanVae();

  const WanVaeConfig& config() const;
  WanVaeLayout layout() const;
  int64_t parameter_bytes() const;  // resident weights
  bool has_encoder() const;
  c10::Device device() const;  // where the weights live and compute runs

  // latents [z, F, h, w] (any float dtype and device), normalised as the denoiser produces them:
  // un-normalised here with the mean/std tables. Returns fp32 [3, 4(F-1)+1, 16h, 16w] in [-1, 1].
  absl::StatusOr<at::Tensor> Decode(const at::Tensor& latents,
                                    const DecodeOptions& options = {}) const;

  // video [3, 1+4k, H, W] in [-1, 1] (H, W multiples of 16) -> normalised latent
  // [z, 1+k, H/16, W/16]: the mean of the posterior, as Ovi's image-to-video uses it.
  absl::StatusOr<at::Tensor> EncodeVideo(const at::Tensor& video) const;
  // image [3, H, W]: EncodeVideo of one frame -> [z, 1, H/16, W/16].
  absl::StatusOr<at::Tensor> EncodeImage(const at::Tensor& image) const;

 private:
  explicit WanVae(std::unique_ptr<WanVaeWeights> w);
  std::unique_ptr<WanVaeWeights> w_;
};

}  // namespace ovid::wan_vae
