#include "engine/models/wan_vae/wan_vae_decoder.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/upsample_nearest2d.h>

#include <algorithm>

namespace ovid::wan_vae {

// One up stage: residual blocks, the resampler, and the parameter-free DupUp3D shortcut from the
// stage's input (absent in the last stage, which does not resample).
class UpStage {
 public:
  explicit UpStage(const StageW& w) : w_(&w) {
    for (const ResW& r : w.res) res_.emplace_back(r);
    if (w.temporal) time_conv_ = std::make_unique<CausalConv3d>(w.time_conv);
  }

  at::Tensor Forward(const at::Tensor& x) {
    at::Tensor y = x;
    for (ResBlock& r : res_) y = r.Forward(y);
    if (w_->resamples) y = Upsample(y).add(DupUp(x));
    started_ = true;
    return y;
  }

 private:
  // Interleaves time_conv's two channel halves as frames 2k and 2k+1.
  static at::Tensor DoubleFrames(const at::Tensor& y) {
    const int64_t b = y.size(0), c = y.size(1) / 2, t = y.size(2), h = y.size(3), w = y.size(4);
    return y.view({b, 2, c, t, h, w}).permute({0, 2, 3, 1, 4, 5}).reshape({b, c, 2 * t, h, w});
  }

  at::Tensor Upsample(at::Tensor y) {
    if (w_->temporal) {
      if (!started_) {
        // Frame 0 of the stream bypasses time_conv; its causal stream starts at frame 1.
        std::vector<at::Tensor> parts = {y.narrow(2, 0, 1)};
        if (y.size(2) > 1) {
          parts.push_back(DoubleFrames(time_conv_->Forward(y.narrow(2, 1, y.size(2) - 1))));
        }
        y = parts.size() == 1 ? parts[0] : at::cat(parts, 2);
      } else {
        y = DoubleFrames(time_conv_->Forward(y));
      }
    }
    // nearest-exact at scale 2 is plain nearest: pixel i comes from i / 2.
    const int64_t b = y.size(0), c = y.size(1), t = y.size(2), h = y.size(3), w = y.size(4);
    at::Tensor frames = y.permute({0, 2, 1, 3, 4}).reshape({b * t, c, h, w});
    frames = at::upsample_nearest2d(frames, {2 * h, 2 * w});
    const at::Tensor up = at::conv2d(frames, w_->resample.w, w_->resample.b, {1, 1}, {1, 1});
    return up.view({b, t, c, 2 * h, 2 * w}).permute({0, 2, 1, 3, 4});
  }

  // DupUp3D(in, out, ft, 2): each output channel group repeats one input channel, laid out over
  // (ft, 2, 2) offsets in (t, h, w); the stream's first ft-1 frames are dropped.
  at::Tensor DupUp(const at::Tensor& x) const {
    const int64_t ft = w_->temporal ? 2 : 1, fs = 2, out = w_->out_dim;
    const int64_t b = x.size(0), t = x.size(2), h = x.size(3), w = x.size(4);
    const int64_t repeats = out * ft * fs * fs / x.size(1);
    at::Tensor y = x.repeat_interleave(repeats, 1)
                       .view({b, out, ft, fs, fs, t, h, w})
                       .permute({0, 1, 5, 2, 6, 3, 7, 4})
                       .reshape({b, out, t * ft, h * fs, w * fs});
    if (!started_ && ft > 1) y = y.narrow(2, ft - 1, y.size(2) - (ft - 1));
    return y;
  }

  const StageW* w_;
  std::vector<ResBlock> res_;
  std::unique_ptr<CausalConv3d> time_conv_;
  bool started_ = false;
};

DecoderStream::DecoderStream(const DecoderW& w, int64_t stage_frames)
    : w_(&w), stage_frames_(stage_frames), conv_in_(w.conv_in), mid0_(w.mid0), mid1_(w.mid1), head_conv_(w.head_conv) {
  for (const StageW& s : w.stages) stages_.push_back(std::make_unique<UpStage>(s));
}

DecoderStream::~DecoderStream() = default;

at::Tensor DecoderStream::Forward(const at::Tensor& x) {
  at::Tensor y = conv_in_.Forward(x);
  y = mid0_.Forward(y);
  y = AttentionBlock(y, w_->attn);
  y = mid1_.Forward(y);
  return RunFrom(0, y);
}

at::Tensor DecoderStream::RunFrom(size_t level, const at::Tensor& y) {
  if (level == stages_.size()) return head_conv_.Forward(at::silu(RmsNorm(y, w_->head_norm)));
  if (stage_frames_ > 0 && y.size(2) > stage_frames_) {
    // Pieces go through in time order, so every stream sees the same frames as unsplit.
    std::vector<at::Tensor> outs;
    for (int64_t f = 0; f < y.size(2); f += stage_frames_) {
      outs.push_back(RunFrom(level, y.narrow(2, f, std::min(stage_frames_, y.size(2) - f))));
    }
    return at::cat(outs, 2);
  }
  return RunFrom(level + 1, stages_[level]->Forward(y));
}

at::Tensor Unpatchify(const at::Tensor& x, int64_t patch) {
  if (patch == 1) return x;
  const int64_t b = x.size(0), c = x.size(1) / (patch * patch), t = x.size(2), h = x.size(3),
                w = x.size(4);
  // [B, c, r, q, T, H, W] -> [B, c, T, H, q, W, r]
  return x.reshape({b, c, patch, patch, t, h, w})
      .permute({0, 1, 4, 5, 3, 6, 2})
      .reshape({b, c, t, h * patch, w * patch});
}

}  // namespace ovid::wan_vae
