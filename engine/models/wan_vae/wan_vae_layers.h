// File: engine/models/wan_vae/wan_vae_layers.h
// The Wan VAE building blocks (spec encoders.md §3.1) as streams over time: each causal 3-D
// convolution keeps the last 2 frames of its input stream (initially 2 zero frames, the causal
// padding), so feeding a video in chunks of any length gives the same result as feeding it
// whole. That is the original's feat_cache without its special cases: a chunk of 1 frame whose
// cache holds 1 frame is padded with a zero frame there, which is what a zero-initialised stream
// holds anyway. Norms and attention act per frame, so they need no state.
//
// Tensors are [B, C, T, H, W] in the compute dtype; RMS norms compute in fp32.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "engine/models/wan_vae/wan_vae_weights.h"

namespace ovid::wan_vae {

// x / max(||x||_2 over channels, 1e-12) * gamma (gamma already holds the sqrt(C) factor).
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& gamma);

// A Conv3d without temporal context (the 1x1x1 shortcut and quant convs): no cache.
at::Tensor PointConv3d(const at::Tensor& x, const ConvW& c);

// CausalConv3d with kernel kt in {1, 3} (front padding kt-1 frames) and spatial padding
// (kh-1)/2, stride 1.
class CausalConv3d {
 public:
  explicit CausalConv3d(const ConvW& w);
  at::Tensor Forward(const at::Tensor& x);  // T frames in, T frames out

 private:
  const ConvW* w_;
  int64_t context_;  // kt - 1: frames carried over
  at::Tensor cache_;  // the last `context_` input frames; undefined: zeros
};

// ResidualBlock: residual(x) + shortcut(x) with residual = RMS, SiLU, conv, RMS, SiLU, conv.
class ResBlock {
 public:
  explicit ResBlock(const ResW& w);
  at::Tensor Forward(const at::Tensor& x);

 private:
  const ResW* w_;
  CausalConv3d conv1_, conv2_;
};

// Single-head self-attention over each frame's pixels, plus the input.
at::Tensor AttentionBlock(const at::Tensor& x, const AttnW& w);

// Applies a Conv2d to every frame of [B, C, T, H, W] (zero padding `pad`, stride `stride`).
at::Tensor PerFrameConv2d(const at::Tensor& x, const ConvW& c, int64_t pad, int64_t stride);

}  // namespace ovid::wan_vae
