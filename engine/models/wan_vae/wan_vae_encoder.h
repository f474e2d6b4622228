// File: engine/models/wan_vae/wan_vae_encoder.h
// The Wan2.2 encoder (spec encoders.md §3.4), chunked in time exactly as the original: the first
// frame alone, then 4 frames at a time, so a clip of 1+4k frames gives 1+k latents. Unlike the
// decoder its chunking is fixed: each downsample3d's stride-2 time_conv and each AvgDown3D's
// front padding line up with these chunk boundaries only. On the first chunk every temporal step
// degenerates: causal convs see their 2 zero frames, each downsample3d passes the frame through
// (and keeps it for the next chunk), and AvgDown3D pads one zero frame in front. Ovi's
// image-to-video encodes exactly that one frame.
#pragma once

#include <ATen/core/Tensor.h>

#include "engine/models/wan_vae/wan_vae_config.h"
#include "engine/models/wan_vae/wan_vae_weights.h"

namespace ovid::wan_vae {

// [B, C, T, H, W] -> [B, C p², T, H/p, W/p], the inverse of Unpatchify.
at::Tensor Patchify(const at::Tensor& x, int64_t patch);

// x: [1, 3p², 1+4k, H/p, W/p] patched frames in the compute dtype -> [1, 2z, 1+k, H/16, W/16]
// moments (mu | log_var) after quant_conv. The caller checks the frame count.
at::Tensor EncodeFrames(const EncoderW& w, const at::Tensor& x);

}  // namespace ovid::wan_vae
