// File: engine/pipeline/video_stage.cc
#include "engine/pipeline/video_stage.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/upsample_bicubic2d.h>

#include <algorithm>
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

at::Tensor NormalizeFrame(const uint8_t* rgb, int64_t image_width, int64_t image_height) {
  at::Tensor pixels = at::from_blob(const_cast<uint8_t*>(rgb), {image_height, image_width, 3},
                                    at::TensorOptions().dtype(at::kByte));
  at::Tensor out =
      at::empty({1, 3, image_height, image_width}, at::TensorOptions().dtype(at::kBFloat16));
  // A band of rows at a time: the whole frame in f32 would be 768 MiB at 8192 x 8192, twice over
  // (the cast and the division), where the bf16 result is 384 MiB.
  constexpr int64_t kBandRows = 256;
  for (int64_t row = 0; row < image_height; row += kBandRows) {
    const int64_t rows = std::min(kBandRows, image_height - row);
    out.narrow(2, row, rows)
        .copy_(pixels.narrow(0, row, rows).permute({2, 0, 1}).unsqueeze(0).to(at::kFloat)
                   .div(255.0)
                   .to(at::kBFloat16));
  }
  // In place, rounding to bf16 after each operation as the original's out-of-place ops do.
  return out.mul_(2).sub_(1);
}

absl::StatusOr<at::Tensor> EncodeFirstFrame(const wan_vae::WanVae& vae, const uint8_t* rgb,
                                            int64_t image_width, int64_t image_height,
                                            int64_t width, int64_t height) {
  OVID_ASSIGN_OR_RETURN(at::Tensor image, ops::GuardTorch("first frame", [&] {
    at::Tensor x = NormalizeFrame(rgb, image_width, image_height).to(vae.device());
    x = at::upsample_bicubic2d(x, {height, width}, /*align_corners=*/false);
    return x.squeeze(0);
  }));
  return vae.EncodeImage(image);
}

}  // namespace ovid::pipeline
