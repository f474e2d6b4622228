// File: engine/models/wan_vae/wan_vae_decoder.h
// The Wan2.2 decoder as a stream over latent frames (spec encoders.md §3.3). Feed it the
// post-quant latent in chunks of any number of frames; it returns each chunk's patched pixel
// frames [1, 3p², T', H/p, W/p]. The first latent frame is special, as in the original:
//   - each temporal upsample passes the stream's frame 0 through unchanged (one frame, not two)
//     and runs its causal time_conv over frames 1.. only (the original's "Rep" marker);
//   - each DupUp3D shortcut drops the first copy of frame 0.
// So latent frame 0 gives 1 pixel frame and every later one 4 (T = 4(F-1)+1), and every chunking
// gives the same frames: chunk 1 is the original's loop, a single chunk of all frames is the
// whole-sequence equivalent the spec describes.
//
// Because every layer is such a stream, a chunk can also be cut again inside the decoder: with
// `stage_frames` > 0, any stage input longer than that many frames is run through the rest of
// the decoder in pieces of at most `stage_frames` frames. The result is the same (up to
// summation order); the large high-resolution transients of the last stages (spec §3.6) shrink
// to the piece (ComfyUI's 2-frame sub-chunks are stage_frames = 2).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "engine/models/wan_vae/wan_vae_layers.h"
#include "engine/models/wan_vae/wan_vae_weights.h"

namespace ovid::wan_vae {

class UpStage;

class DecoderStream {
 public:
  explicit DecoderStream(const DecoderW& w, int64_t stage_frames = 0);
  ~DecoderStream();
  DecoderStream(const DecoderStream&) = delete;
  DecoderStream& operator=(const DecoderStream&) = delete;

  // x: [1, z, t, h, w] (after post_quant_conv), the next t latent frames.
  at::Tensor Forward(const at::Tensor& x);

 private:
  // Stages `level`.. and the head, cutting the input into pieces of at most stage_frames_.
  at::Tensor RunFrom(size_t level, const at::Tensor& y);

  const DecoderW* w_;
  int64_t stage_frames_;
  CausalConv3d conv_in_;
  ResBlock mid0_, mid1_;
  std::vector<std::unique_ptr<UpStage>> stages_;
  CausalConv3d head_conv_;
};

// [B, 3p², T, H, W] -> [B, 3, T, pH, pW]: channel 4c + 2r + q (p = 2) is colour c at height
// offset q and width offset r (spec §3.1).
at::Tensor Unpatchify(const at::Tensor& x, int64_t patch);

}  // namespace ovid::wan_vae
