// File: engine/tensor/quantized_linear.cc
#include "engine/tensor/quantized_linear.h"

#include <ATen/ops/_addmm_activation.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "engine/tensor/fused_dispatch.h"

namespace ovid {

at::Tensor GemmActivation(const at::Tensor& x2d, const at::Tensor& w, const at::Tensor& bias,
                          LinearActivation activation) {
  if (activation == LinearActivation::kNone) return at::linear(x2d, w, bias);
  if (x2d.is_cuda() && x2d.scalar_type() == at::kBFloat16 && bias.defined() && x2d.size(0) > 1) {
    return at::_addmm_activation(bias, x2d, w.t(), 1, 1, /*use_gelu=*/true);
  }
  return at::gelu(at::linear(x2d, w, bias), "tanh");
}

const char* LinearModeName(LinearMode mode) {
  switch (mode) {
    case LinearMode::kLazy:
      return "lazy";
    case LinearMode::kEager:
      return "eager";
    case LinearMode::kCache:
      return "cache";
  }
  return "?";
}

at::ScalarType ComputeDtype(c10::Device device) {
  return device.is_cuda() ? at::kBFloat16 : at::kFloat;
}

LinearPath QuantizedPathFor(GgmlType type, int64_t out_features, int64_t in_features,
                            int64_t tokens, c10::Device device, const LinearOptions& options) {
  if (!device.is_cuda() || options.exact_f32 || !ops::HasFusedMatmul(type)) {
    return LinearPath::kDequantGemm;
  }
  if (options.measured_dispatch != nullptr) {
    if (std::optional<bool> fuses = options.measured_dispatch->Fuses(
            LinearShape{type, out_features, in_features}, tokens)) {
      return *fuses ? LinearPath::kFused : LinearPath::kDequantGemm;
    }
  }
  const bool panel = ops::HasPanelFusedMatmul(type, in_features);
  return tokens <= options.FusedMaxTokens(type, panel) ? LinearPath::kFused
                                                       : LinearPath::kDequantGemm;
}

absl::StatusOr<QuantizedLinear> QuantizedLinear::Create(
    std::shared_ptr<const QuantizedTensor> weight, at::Tensor dense, at::Tensor bias,
    LinearMode mode, LinearOptions options) {
  if (weight == nullptr) return absl::InvalidArgumentError("QuantizedLinear without a weight");
  if (weight->shape().size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("linear weight '", weight->name(),
                                                   "' must be 2-D [out, in], is [",
                                                   absl::StrJoin(weight->shape(), ", "), "]"));
  }
  if (mode == LinearMode::kEager && !dense.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("eager linear '", weight->name(), "' needs its dense weight"));
  }
  QuantizedLinear l;
  l.out_ = weight->shape()[0];
  l.in_ = weight->shape()[1];
  const c10::Device device = weight->device();
  return ops::GuardTorch("QuantizedLinear", [&]() -> absl::StatusOr<QuantizedLinear> {
    const at::ScalarType cd = options.exact_f32 ? at::kFloat : ComputeDtype(device);
    if (dense.defined()) {
      if (dense.dim() != 2 || dense.size(0) != l.out_ || dense.size(1) != l.in_) {
        return absl::InvalidArgumentError(
            absl::StrCat("dense copy of '", weight->name(), "' has the wrong shape"));
      }
      l.dense_ = dense.to(device, cd).contiguous();
    }
    if (bias.defined()) {
      if (bias.dim() != 1 || bias.size(0) != l.out_) {
        return absl::InvalidArgumentError(
            absl::StrCat("bias of '", weight->name(), "' must be [", l.out_, "]"));
      }
      l.bias_ = bias.to(device, cd).contiguous();
    }
    l.weight_ = std::move(weight);
    l.mode_ = mode;
    l.options_ = options;
    return l;
  });
}

absl::StatusOr<QuantizedLinear> QuantizedLinear::Dense(at::Tensor weight, at::Tensor bias,
                                                       LinearOptions options) {
  if (!weight.defined() || weight.dim() != 2) {
    return absl::InvalidArgumentError("dense linear weight must be 2-D [out, in]");
  }
  QuantizedLinear l;
  l.out_ = weight.size(0);
  l.in_ = weight.size(1);
  return ops::GuardTorch("dense linear", [&]() -> absl::StatusOr<QuantizedLinear> {
    const at::ScalarType cd = options.exact_f32 ? at::kFloat : ComputeDtype(weight.device());
    if (bias.defined()) {
      if (bias.dim() != 1 || bias.size(0) != l.out_) {
        return absl::InvalidArgumentError(absl::StrCat("dense bias must be [", l.out_, "]"));
      }
      l.bias_ = bias.to(weight.device(), cd).contiguous();
    }
    l.dense_ = weight.to(cd).contiguous();
    l.mode_ = LinearMode::kEager;
    l.options_ = options;
    return l;
  });
}

absl::StatusOr<at::Tensor> QuantizedLinear::Forward(const at::Tensor& x,
                                                    DequantWorkspace* workspace, LinearPath* path,
                                                    LinearActivation activation) const {
  LinearPath unused;
  LinearPath& taken = path != nullptr ? *path : unused;
  if (!dense_.defined() && weight_ == nullptr) {
    // A default-constructed layer that model code never bound (an optional layer left out).
    return absl::FailedPreconditionError("linear layer has no weight (never bound)");
  }
  const c10::Device device = dense_.defined() ? dense_.device() : weight_->device();
  if (!x.defined() || x.dim() < 1 || x.size(-1) != in_) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear '", weight_ ? weight_->name() : "dense", "' expects input [..., ", in_,
                     "], got [", x.defined() ? absl::StrJoin(x.sizes(), ", ") : "undefined", "]"));
  }
  if (x.device() != device) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear input on ", x.device().str(), ", weight on ", device.str()));
  }
  return ops::GuardTorch("linear forward", [&]() -> absl::StatusOr<at::Tensor> {
    const at::ScalarType cd = options_.exact_f32 ? at::kFloat : ComputeDtype(device);
    std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
    out_shape.back() = out_;
    const at::Tensor x2d = x.reshape({-1, in_}).to(cd).contiguous();  // [M, in]
    const int64_t tokens = x2d.size(0);
    at::Tensor y;  // [M, out]
    if (dense_.defined()) {
      taken = LinearPath::kDenseGemm;
      y = GemmActivation(x2d, dense_, bias_, activation);
    } else if (QuantizedPathFor(weight_->type(), out_, in_, tokens, device, options_) ==
               LinearPath::kFused) {
      taken = LinearPath::kFused;
      absl::StatusOr<at::Tensor> fused =
          ops::FusedQuantMatmul(x2d, weight_->type(), weight_->blocks(), out_, in_, bias_);
      if (!fused.ok()) return fused.status();
      y = *std::move(fused);
      if (activation == LinearActivation::kGeluTanh) y = at::gelu(y, "tanh");
    } else {
      if (workspace == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            "linear '", weight_->name(), "' needs a DequantWorkspace (bind one per worker)"));
      }
      if (workspace->device() != device) {
        return absl::InvalidArgumentError(
            absl::StrCat("workspace on ", workspace->device().str(), ", weight on ", device.str()));
      }
      taken = LinearPath::kDequantGemm;
      absl::StatusOr<at::Tensor> w = workspace->View(out_, in_, cd);  // [out, in]
      if (!w.ok()) return w.status();
      // The GEMM below reads the workspace at once: leave it in L2.
      absl::Status s = ops::DequantizeInto(weight_->type(), weight_->blocks(), out_, in_, *w,
                                           ops::DequantUse::kReadNext);
      if (!s.ok()) return s;
      y = GemmActivation(x2d, *w, bias_, activation);
    }
    return y.view(out_shape).to(x.scalar_type());
  });
}

at::Tensor QuantizedLinear::forward(const at::Tensor& x, LinearActivation activation) const {
  return ops::ValueOrThrow(Forward(x, DequantWorkspace::Current(), nullptr, activation));
}

}  // namespace ovid
