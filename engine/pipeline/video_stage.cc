// File: engine/pipeline/video_stage.cc
#include "engine/pipeline/video_stage.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/upsample_bicubic2d.h>

#include <utility>

#include "engine/gguf/status_macros.h"
#include "engine/models/wan_vae/wan_vae.h"
#include "engine/ops/torch_status.h"

namespace ovid::pipeline {

absl::StatusOr<at::Tensor> DecodeVideo(const wan_vae::WanVae& vae, const at::Tensor& latents,
                                       int64_t chunk_frames,
                                       std::function<absl::Status(int64_t, int64_t)> on_chunk) {
  wan_vae::DecodeOptions options;
  options.chunk_frames = chunk_frames < 1 ? 1 : chunk_frames;
  options.output_device = c10::Device(c10::kCPU);
  options.on_chunk = std::move(on_chunk);
  return vae.Decode(latents, options);
}

absl::StatusOr<at::Tensor> EncodeFirstFrame(const wan_vae::WanVae& vae, const uint8_t* rgb,
                                            int64_t image_width, int64_t image_height,
                                            int64_t width, int64_t height) {
  OVID_ASSIGN_OR_RETURN(at::Tensor image, ops::GuardTorch("first frame", [&] {
    // [H, W, 3] bytes -> [1, 3, H, W]; each step in bf16 as the original's tensor ops run.
    at::Tensor pixels = at::from_blob(const_cast<uint8_t*>(rgb), {image_height, image_width, 3},
                                      at::TensorOptions().dtype(at::kByte));
    at::Tensor x = pixels.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0);
    x = x.to(at::kBFloat16).mul(2).sub(1);
    x = x.to(vae.device());
    x = at::upsample_bicubic2d(x, {height, width}, /*align_corners=*/false);
    return x.squeeze(0);
  }));
  return vae.EncodeImage(image);
}

}  // namespace ovid::pipeline
