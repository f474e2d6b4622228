#include "engine/models/wan_vae/wan_vae_encoder.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/conv3d.h>
#include <ATen/ops/silu.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/models/wan_vae/wan_vae_layers.h"

namespace ovid::wan_vae {
namespace {

// AvgDown3D(in, out, ft, fs): front-pad time to a multiple of ft, fold each (ft, fs, fs) block
// into channels, then average groups of in*ft*fs²/out consecutive channels.
at::Tensor AvgDown(const at::Tensor& x, int64_t out, int64_t ft, int64_t fs) {
  const int64_t pad_t = (ft - x.size(2) % ft) % ft;
  const at::Tensor p = pad_t ? at::constant_pad_nd(x, {0, 0, 0, 0, pad_t, 0}) : x;
  const int64_t b = p.size(0), c = p.size(1), t = p.size(2) / ft, h = p.size(3) / fs,
                w = p.size(4) / fs;
  const int64_t group = c * ft * fs * fs / out;
  return p.reshape({b, c, t, ft, h, fs, w, fs})
      .permute({0, 1, 3, 5, 7, 2, 4, 6})
      .reshape({b, out, group, t, h, w})
      .mean(2);
}

// One down stage over the chunk sequence: residual blocks, the resampler, + AvgDown3D(input).
class DownStage {
 public:
  explicit DownStage(const StageW& w) : w_(&w) {
    for (const ResW& r : w.res) res_.emplace_back(r);
  }

  at::Tensor Forward(const at::Tensor& x) {
    at::Tensor y = x;
    for (ResBlock& r : res_) y = r.Forward(y);
    if (w_->resamples) {
      // ZeroPad2d(0, 1, 0, 1) (right and bottom), then a stride-2 conv per frame.
      y = PerFrameConv2d(at::constant_pad_nd(y, {0, 1, 0, 1}), w_->resample, 0, 2);
      if (w_->temporal) y = TimeDown(y);
    }
    const int64_t ft = w_->temporal ? 2 : 1, fs = w_->resamples ? 2 : 1;
    return y.add(AvgDown(x, w_->out_dim, ft, fs));
  }

 private:
  // downsample3d: the first chunk passes through and is remembered; later chunks run the
  // stride-2 time_conv (no padding) over [last frame of the previous chunk, chunk].
  at::Tensor TimeDown(const at::Tensor& y) {
    const at::Tensor last = y.narrow(2, y.size(2) - 1, 1).clone();
    at::Tensor out = y;
    if (last_.defined()) {
      out = at::conv3d(at::cat({last_, y}, 2), w_->time_conv.w, w_->time_conv.b, {2, 1, 1});
    }
    last_ = last;
    return out;
  }

  const StageW* w_;
  std::vector<ResBlock> res_;
  at::Tensor last_;
};

class EncoderStream {
 public:
  explicit EncoderStream(const EncoderW& w)
      : w_(&w), conv_in_(w.conv_in), mid0_(w.mid0), mid1_(w.mid1), head_conv_(w.head_conv) {
    for (const StageW& s : w.stages) stages_.push_back(std::make_unique<DownStage>(s));
  }

  at::Tensor Forward(const at::Tensor& x) {
    at::Tensor y = conv_in_.Forward(x);
    for (auto& s : stages_) y = s->Forward(y);
    y = mid0_.Forward(y);
    y = AttentionBlock(y, w_->attn);
    y = mid1_.Forward(y);
    return head_conv_.Forward(at::silu(RmsNorm(y, w_->head_norm)));
  }

 private:
  const EncoderW* w_;
  CausalConv3d conv_in_;
  std::vector<std::unique_ptr<DownStage>> stages_;
  ResBlock mid0_, mid1_;
  CausalConv3d head_conv_;
};

}  // namespace

at::Tensor Patchify(const at::Tensor& x, int64_t patch) {
  if (patch == 1) return x;
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3) / patch,
                w = x.size(4) / patch;
  // [B, c, T, H, q, W, r] -> [B, c, r, q, T, H, W]
  return x.reshape({b, c, t, h, patch, w, patch})
      .permute({0, 1, 6, 4, 2, 3, 5})
      .reshape({b, c * patch * patch, t, h, w});
}

at::Tensor EncodeFrames(const EncoderW& w, const at::Tensor& x) {
  EncoderStream stream(w);
  std::vector<at::Tensor> outs = {stream.Forward(x.narrow(2, 0, 1))};
  for (int64_t f = 1; f < x.size(2); f += 4) {
    outs.push_back(stream.Forward(x.narrow(2, f, std::min<int64_t>(4, x.size(2) - f))));
  }
  return PointConv3d(outs.size() == 1 ? outs[0] : at::cat(outs, 2), w.quant);
}

}  // namespace ovid::wan_vae
