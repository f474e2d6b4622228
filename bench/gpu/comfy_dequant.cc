// File: bench/gpu/comfy_dequant.cc
#include "bench/gpu/comfy_dequant.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/tensor.h>

#include <utility>
#include <vector>

namespace ovid::bench {
namespace {

constexpr int64_t kQK_K = 256;
constexpr int64_t kScaleBytes = 12;  // K_SCALE_SIZE

// split_block_dims: the given field widths along dim 1, then whatever is left.
std::vector<at::Tensor> SplitBlockDims(const at::Tensor& blocks, std::vector<int64_t> dims) {
  int64_t used = 0;
  for (const int64_t d : dims) used += d;
  dims.push_back(blocks.size(1) - used);
  return blocks.split_with_sizes(dims, 1);
}

// torch.tensor([...], device=..., dtype=torch.uint8).reshape(shape): built on every call, as
// ComfyUI does (a host-to-device copy each time).
at::Tensor Shifts(std::vector<uint8_t> values, at::IntArrayRef shape, const at::Device& device) {
  return at::tensor(at::ArrayRef<uint8_t>(values),
                    at::TensorOptions().dtype(at::kByte).device(device))
      .reshape(shape);
}

// get_scale_min: the 6-bit scales and mins of the eight sub-blocks of a K-quant super-block.
std::pair<at::Tensor, at::Tensor> GetScaleMin(const at::Tensor& scales_in) {
  const int64_t n = scales_in.size(0);
  const at::Tensor scales = scales_in.view(at::kByte).reshape({n, 3, 4});
  const std::vector<at::Tensor> p = scales.split(1, -2);  // d, m, m_d
  const at::Tensor& d = p[0];
  const at::Tensor& m = p[1];
  const at::Tensor& m_d = p[2];
  const at::Tensor sc = at::cat(
      {d.bitwise_and(0x3F), m_d.bitwise_and(0x0F).bitwise_or(d.__rshift__(2).bitwise_and(0x30))},
      -1);
  const at::Tensor mn = at::cat(
      {m.bitwise_and(0x3F), m_d.__rshift__(4).bitwise_or(m.__rshift__(2).bitwise_and(0x30))}, -1);
  return {sc.reshape({n, 8}), mn.reshape({n, 8})};
}

at::Tensor BlocksQ8_0(const at::Tensor& blocks) {
  const std::vector<at::Tensor> p = SplitBlockDims(blocks, {2});
  const at::Tensor d = p[0].view(at::kHalf);  // .to(None): stays fp16
  const at::Tensor x = p[1].view(at::kChar);
  return d.mul(x);
}

at::Tensor BlocksQ4_K(const at::Tensor& blocks) {
  const int64_t n = blocks.size(0);
  const std::vector<at::Tensor> p = SplitBlockDims(blocks, {2, 2, kScaleBytes});
  const at::Tensor d0 = p[0].view(at::kHalf);
  const at::Tensor dmin = p[1].view(at::kHalf);
  auto [sc, m] = GetScaleMin(p[2]);
  const at::Tensor d = d0.mul(sc).reshape({n, -1, 1});
  const at::Tensor dm = dmin.mul(m).reshape({n, -1, 1});
  at::Tensor qs = p[3].reshape({n, -1, 1, 32}).__rshift__(Shifts({0, 4}, {1, 1, 2, 1}, d.device()));
  qs = qs.bitwise_and(0x0F).reshape({n, -1, 32});
  return d.mul(qs).sub(dm).reshape({n, kQK_K});
}

at::Tensor BlocksQ6_K(const at::Tensor& blocks) {
  const int64_t n = blocks.size(0);
  const std::vector<at::Tensor> p = SplitBlockDims(blocks, {kQK_K / 2, kQK_K / 4, kQK_K / 16});
  const at::Tensor scales = p[2].view(at::kChar);
  const at::Tensor d = p[3].view(at::kHalf).mul(scales).reshape({n, kQK_K / 16, 1});
  at::Tensor ql = p[0].reshape({n, -1, 1, 64}).__rshift__(Shifts({0, 4}, {1, 1, 2, 1}, d.device()));
  ql = ql.bitwise_and(0x0F).reshape({n, -1, 32});
  at::Tensor qh =
      p[1].reshape({n, -1, 1, 32}).__rshift__(Shifts({0, 2, 4, 6}, {1, 1, 4, 1}, d.device()));
  qh = qh.bitwise_and(0x03).reshape({n, -1, 32});
  at::Tensor q = ql.bitwise_or(qh.__lshift__(4)).to(at::kChar).sub(32);
  q = q.reshape({n, kQK_K / 16, -1});
  return d.mul(q).reshape({n, kQK_K});
}

}  // namespace

bool HasComfyDequant(GgmlType type) {
  return type == GgmlType::kQ4_K || type == GgmlType::kQ6_K || type == GgmlType::kQ8_0;
}

at::Tensor ComfyDequantize(GgmlType type, const at::Tensor& raw, int64_t out, int64_t in,
                           at::ScalarType dtype) {
  TORCH_CHECK(HasComfyDequant(type), "no ComfyUI-style dequantizer for ", GgmlTypeName(type));
  const int64_t type_size = GgmlInfo(type).type_size;
  const at::Tensor rows = raw.reshape({-1, raw.size(-1)}).view(at::kByte);
  const int64_t n_blocks = rows.numel() / type_size;
  const at::Tensor blocks = rows.reshape({n_blocks, type_size});
  at::Tensor w;
  switch (type) {
    case GgmlType::kQ4_K:
      w = BlocksQ4_K(blocks);
      break;
    case GgmlType::kQ6_K:
      w = BlocksQ6_K(blocks);
      break;
    default:
      w = BlocksQ8_0(blocks);
      break;
  }
  return w.reshape({out, in}).to(dtype);
}

at::Tensor ComfyLinear(const at::Tensor& x, GgmlType type, const at::Tensor& raw, int64_t out,
                       int64_t in, const at::Tensor& bias) {
  return at::linear(x, ComfyDequantize(type, raw, out, in, x.scalar_type()), bias);
}

}  // namespace ovid::bench
