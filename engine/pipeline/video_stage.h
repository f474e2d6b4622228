// File: engine/pipeline/video_stage.h
// The Wan2.2 VAE's two jobs in a generation: "video_decode" (the denoised latent to frames,
// chunk by chunk, each chunk's frames moved to the host as it is done, so device memory holds
// one chunk whatever the clip length) and, for image to video, the first frame's latent
// (Ovi's preprocess_image_tensor + wrapped_encode, spec encoders.md §3.4).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"

namespace ovid::wan_vae {
class WanVae;
}  // namespace ovid::wan_vae

namespace ovid::pipeline {

// latents [48, F, h, w] -> f32 [3, 4(F-1)+1, 16h, 16w] in [-1, 1] on the host. `on_chunk(done,
// total)` runs after each chunk; a non-OK status (cancellation) stops the decode.
absl::StatusOr<at::Tensor> DecodeVideo(const wan_vae::WanVae& vae, const at::Tensor& latents,
                                       int64_t chunk_frames,
                                       std::function<absl::Status(int64_t, int64_t)> on_chunk);

// An RGB image (rows of width * 3 bytes) as Ovi's tensor ops normalize it, on the host:
// [1, 3, height, width] bf16 of (x / 255 in f32, rounded to bf16) * 2 - 1, rounded after each
// step. Peak host memory is the bf16 result plus one band of rows.
at::Tensor NormalizeFrame(const uint8_t* rgb, int64_t image_width, int64_t image_height);

// An RGB image (rows of width * 3 bytes) as Ovi feeds it to the VAE: /255, bf16, * 2 - 1,
// bicubic-resized to width x height in bf16 (align_corners=False, no clamp), then encoded:
// the clean latent of frame 0, [48, 1, height/16, width/16] in the VAE's dtype on its device.
absl::StatusOr<at::Tensor> EncodeFirstFrame(const wan_vae::WanVae& vae, const uint8_t* rgb,
                                            int64_t image_width, int64_t image_height,
                                            int64_t width, int64_t height);

}  // namespace ovid::pipeline
