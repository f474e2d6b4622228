// File: kernels/cuda/dit_elementwise.cu
// One thread block per token row: the row (dim <= 32768 bf16) is loaded once into registers in
// 16-byte vectors, reduced for the norm statistics, transformed and stored once. Rounding points
// follow the plain ATen chains (see the header), products of the rotation use __fmul_rn /
// __fadd_rn so that nvcc cannot contract them into FMAs the plain chain does not have.
//
// Programmatic dependent launch: each kernel lets the next one in the stream start its blocks
// as soon as all of its own blocks run (cuda_detail::LaunchDependents). A plainly launched next
// kernel is unaffected; the fused panel matmul, which a norm usually precedes, is launched for
// it and starts its set-up and weight copies while the norm finishes (it waits for the norm's
// output before reading it).
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/dit_elementwise.cuh"
#include "kernels/cuda/pdl.cuh"

namespace ovid {
namespace {

constexpr int kVec = 8;            // bf16 values per 16-byte load
constexpr int kVecsPerThread = 4;  // row share per thread: dim <= 8 * 4 * 1024
constexpr int kMaxWarps = 32;

struct RowShare {
  float v[kVecsPerThread][kVec];
};

__device__ __forceinline__ float Bf(__nv_bfloat16 h) { return __bfloat162float(h); }
__device__ __forceinline__ __nv_bfloat16 Round(float f) { return __float2bfloat16_rn(f); }

__device__ __forceinline__ void Unpack(const uint4& u, float* out) {
  const __nv_bfloat16* h = reinterpret_cast<const __nv_bfloat16*>(&u);
#pragma unroll
  for (int e = 0; e < kVec; ++e) out[e] = Bf(h[e]);
}

__device__ __forceinline__ void LoadRow(const __nv_bfloat16* row, int64_t vecs, RowShare* s) {
  const uint4* p = reinterpret_cast<const uint4*>(row);
#pragma unroll
  for (int i = 0; i < kVecsPerThread; ++i) {
    const int64_t idx = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (idx < vecs) Unpack(p[idx], s->v[i]);
  }
}

// This thread's sum of f(value) over its share of the row.
template <typename F>
__device__ __forceinline__ float ThreadSum(const RowShare& s, int64_t vecs, F f) {
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kVecsPerThread; ++i) {
    const int64_t idx = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (idx < vecs) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) sum += f(s.v[i][e]);
    }
  }
  return sum;
}

// The sum over the block, returned to every thread. `smem` holds kMaxWarps floats; the leading
// barrier lets a second call reuse it.
__device__ float BlockSum(float v, float* smem) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = v;
  __syncthreads();
  const int lane = threadIdx.x % 32;
  float total = lane < static_cast<int>(blockDim.x / 32) ? smem[lane] : 0.0f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
  return total;
}

template <bool kNormed, bool kRope>
__global__ void RmsNormRopeKernel(const __nv_bfloat16* __restrict__ x,
                                  const __nv_bfloat16* __restrict__ weight,
                                  const float* __restrict__ cos_table,
                                  const float* __restrict__ sin_table,
                                  __nv_bfloat16* __restrict__ out_normed,
                                  __nv_bfloat16* __restrict__ out_rope, int64_t dim,
                                  int64_t head_dim, int64_t tokens, float eps) {
  cuda_detail::LaunchDependents();  // see "Programmatic dependent launch" at the top
  __shared__ float smem[kMaxWarps];
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / kVec;
  RowShare s;
  LoadRow(x + row * dim, vecs, &s);
  const float sq = ThreadSum(s, vecs, [](float v) { return v * v; });
  const float inv = rsqrtf(BlockSum(sq, smem) / static_cast<float>(dim) + eps);
  const int64_t half = head_dim / 2;
  const float* cos_row = kRope ? cos_table + (row % tokens) * half : nullptr;
  const float* sin_row = kRope ? sin_table + (row % tokens) * half : nullptr;
  const uint4* w4 = reinterpret_cast<const uint4*>(weight);
#pragma unroll
  for (int i = 0; i < kVecsPerThread; ++i) {
    const int64_t idx = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (idx >= vecs) continue;
    float w[kVec];
    Unpack(w4[idx], w);
    float y[kVec];
    alignas(16) __nv_bfloat16 normed[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      // (x * inv) rounded, then the bf16 product with the weight rounded: two roundings, as
      // xf.mul(inv).to(bf16).mul(weight) does.
      normed[e] = Round(__fmul_rn(Bf(Round(__fmul_rn(s.v[i][e], inv))), w[e]));
      y[e] = Bf(normed[e]);
    }
    if (kNormed) {
      reinterpret_cast<uint4*>(out_normed + row * dim)[idx] = *reinterpret_cast<uint4*>(normed);
    }
    if (kRope) {
      alignas(16) __nv_bfloat16 rot[kVec];
      const int64_t col = idx * kVec;
#pragma unroll
      for (int e = 0; e < kVec; e += 2) {
        const int64_t pair = ((col + e) % head_dim) / 2;
        const float c = cos_row[pair], sn = sin_row[pair];
        rot[e] = Round(__fsub_rn(__fmul_rn(y[e], c), __fmul_rn(y[e + 1], sn)));
        rot[e + 1] = Round(__fadd_rn(__fmul_rn(y[e], sn), __fmul_rn(y[e + 1], c)));
      }
      reinterpret_cast<uint4*>(out_rope + row * dim)[idx] = *reinterpret_cast<uint4*>(rot);
    }
  }
}

// The modulation rows of `row`'s sample and segment; `gate` picks gate rows instead of
// shift/scale.
struct RowMod {
  const __nv_bfloat16* shift;
  const __nv_bfloat16* scale;
  const __nv_bfloat16* gate;
};

__device__ __forceinline__ RowMod SelectRows(const DitModulationRows& m, int64_t row,
                                             int64_t tokens) {
  const int64_t sample = row / tokens;
  const bool clean = (row % tokens) < m.clean_tokens;
  auto pick = [&](const void* regular, const void* clean_rows) {
    const void* p = clean && clean_rows != nullptr ? clean_rows : regular;
    return p == nullptr ? nullptr : static_cast<const __nv_bfloat16*>(p) + sample * m.batch_stride;
  };
  return {pick(m.shift, m.clean_shift), pick(m.scale, m.clean_scale), pick(m.gate, m.clean_gate)};
}

template <bool kAffine, bool kModulate>
__global__ void LayerNormModulateKernel(const __nv_bfloat16* __restrict__ x,
                                        const float* __restrict__ weight,
                                        const float* __restrict__ bias, DitModulationRows mod,
                                        __nv_bfloat16* __restrict__ out, int64_t dim,
                                        int64_t tokens, float eps) {
  cuda_detail::LaunchDependents();  // see "Programmatic dependent launch" at the top
  __shared__ float smem[kMaxWarps];
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / kVec;
  RowShare s;
  LoadRow(x + row * dim, vecs, &s);
  const float mean =
      BlockSum(ThreadSum(s, vecs, [](float v) { return v; }), smem) / static_cast<float>(dim);
  // Two passes over registers: no cancellation as in E[x^2] - E[x]^2.
  const float dev = ThreadSum(s, vecs, [mean](float v) { return (v - mean) * (v - mean); });
  const float rstd = rsqrtf(BlockSum(dev, smem) / static_cast<float>(dim) + eps);
  RowMod rm{};
  if (kModulate) rm = SelectRows(mod, row, tokens);
#pragma unroll
  for (int i = 0; i < kVecsPerThread; ++i) {
    const int64_t idx = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (idx >= vecs) continue;
    const int64_t col = idx * kVec;
    alignas(16) __nv_bfloat16 o[kVec];
    float shift[kVec], scale[kVec];
    if (kModulate) {
      Unpack(reinterpret_cast<const uint4*>(rm.shift)[idx], shift);
      Unpack(reinterpret_cast<const uint4*>(rm.scale)[idx], scale);
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float y = (s.v[i][e] - mean) * rstd;
      if (kAffine) y = y * weight[col + e] + bias[col + e];
      o[e] = Round(y);
      if (kModulate) {
        const float one_plus = Bf(Round(scale[e] + 1.0f));
        o[e] = Round(Bf(Round(__fmul_rn(Bf(o[e]), one_plus))) + shift[e]);
      }
    }
    reinterpret_cast<uint4*>(out + row * dim)[idx] = *reinterpret_cast<uint4*>(o);
  }
}

__global__ void GateResidualKernel(const __nv_bfloat16* x, const __nv_bfloat16* __restrict__ y,
                                   DitModulationRows mod, __nv_bfloat16* out, int64_t dim,
                                   int64_t tokens) {
  cuda_detail::LaunchDependents();  // see "Programmatic dependent launch" at the top
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / kVec;
  const RowMod rm = SelectRows(mod, row, tokens);
  const uint4* x4 = reinterpret_cast<const uint4*>(x + row * dim);
  const uint4* y4 = reinterpret_cast<const uint4*>(y + row * dim);
  const uint4* g4 = reinterpret_cast<const uint4*>(rm.gate);
  uint4* o4 = reinterpret_cast<uint4*>(out + row * dim);
  for (int64_t idx = threadIdx.x; idx < vecs; idx += blockDim.x) {
    float xv[kVec], yv[kVec], gv[kVec];
    Unpack(x4[idx], xv);
    Unpack(y4[idx], yv);
    Unpack(g4[idx], gv);
    alignas(16) __nv_bfloat16 o[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) o[e] = Round(xv[e] + Bf(Round(__fmul_rn(yv[e], gv[e]))));
    o4[idx] = *reinterpret_cast<uint4*>(o);
  }
}

bool Aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool RowsOk(int64_t rows, int64_t dim) {
  return rows > 0 && rows <= 0x7fffffff && dim > 0 && dim % kVec == 0 && dim <= kDitMaxDim;
}

// Threads for one row: enough for kVecsPerThread vectors each, a whole number of warps.
int RowThreads(int64_t dim) {
  const int64_t vecs = dim / kVec;
  const int64_t t = (vecs + kVecsPerThread - 1) / kVecsPerThread;
  return static_cast<int>(((t + 31) / 32) * 32);
}

bool ModRowsAligned(const DitModulationRows& m) {
  return Aligned16(m.shift) && Aligned16(m.scale) && Aligned16(m.gate) &&
         Aligned16(m.clean_shift) && Aligned16(m.clean_scale) && Aligned16(m.clean_gate) &&
         m.batch_stride % kVec == 0 && m.clean_tokens >= 0;
}

}  // namespace

cudaError_t RmsNormRopeCuda(const void* x, const void* weight, const float* cos, const float* sin,
                            void* out_normed, void* out_rope, int64_t rows, int64_t dim,
                            int64_t head_dim, int64_t tokens, float eps, cudaStream_t stream) {
  const bool rope = out_rope != nullptr;
  if (x == nullptr || weight == nullptr || (out_normed == nullptr && !rope) || !RowsOk(rows, dim) ||
      tokens <= 0 || head_dim <= 0 || head_dim % 2 != 0 || dim % head_dim != 0 ||
      (rope && (cos == nullptr || sin == nullptr))) {
    return cudaErrorInvalidValue;
  }
  if (!Aligned16(x) || !Aligned16(weight) || !Aligned16(out_normed) || !Aligned16(out_rope)) {
    return cudaErrorMisalignedAddress;
  }
  const auto* xb = static_cast<const __nv_bfloat16*>(x);
  const auto* wb = static_cast<const __nv_bfloat16*>(weight);
  auto* nb = static_cast<__nv_bfloat16*>(out_normed);
  auto* rb = static_cast<__nv_bfloat16*>(out_rope);
  const dim3 grid(static_cast<unsigned>(rows)), block(RowThreads(dim));
  if (nb != nullptr && rope) {
    RmsNormRopeKernel<true, true>
        <<<grid, block, 0, stream>>>(xb, wb, cos, sin, nb, rb, dim, head_dim, tokens, eps);
    return cudaGetLastError();
  } else if (rope) {
    RmsNormRopeKernel<false, true>
        <<<grid, block, 0, stream>>>(xb, wb, cos, sin, nb, rb, dim, head_dim, tokens, eps);
    return cudaGetLastError();
  } else {
    RmsNormRopeKernel<true, false>
        <<<grid, block, 0, stream>>>(xb, wb, cos, sin, nb, rb, dim, head_dim, tokens, eps);
    return cudaGetLastError();
  }
}

cudaError_t LayerNormModulateCuda(const void* x, const float* weight, const float* bias,
                                  const DitModulationRows& mod, void* out, int64_t rows,
                                  int64_t dim, int64_t tokens, float eps, cudaStream_t stream) {
  const bool affine = weight != nullptr || bias != nullptr;
  const bool modulate = mod.shift != nullptr || mod.scale != nullptr;
  if (x == nullptr || out == nullptr || x == out || !RowsOk(rows, dim) || tokens <= 0 ||
      (affine && (weight == nullptr || bias == nullptr)) ||
      (modulate && (mod.shift == nullptr || mod.scale == nullptr)) ||
      ((mod.clean_shift == nullptr) != (mod.clean_scale == nullptr))) {
    return cudaErrorInvalidValue;
  }
  if (!Aligned16(x) || !Aligned16(out) || !ModRowsAligned(mod)) return cudaErrorMisalignedAddress;
  const auto* xb = static_cast<const __nv_bfloat16*>(x);
  auto* ob = static_cast<__nv_bfloat16*>(out);
  const dim3 grid(static_cast<unsigned>(rows)), block(RowThreads(dim));
  if (affine && modulate) {
    LayerNormModulateKernel<true, true>
        <<<grid, block, 0, stream>>>(xb, weight, bias, mod, ob, dim, tokens, eps);
    return cudaGetLastError();
  } else if (affine) {
    LayerNormModulateKernel<true, false>
        <<<grid, block, 0, stream>>>(xb, weight, bias, mod, ob, dim, tokens, eps);
    return cudaGetLastError();
  } else if (modulate) {
    LayerNormModulateKernel<false, true>
        <<<grid, block, 0, stream>>>(xb, weight, bias, mod, ob, dim, tokens, eps);
    return cudaGetLastError();
  } else {
    LayerNormModulateKernel<false, false>
        <<<grid, block, 0, stream>>>(xb, weight, bias, mod, ob, dim, tokens, eps);
    return cudaGetLastError();
  }
}

cudaError_t GateResidualCuda(const void* x, const void* y, const DitModulationRows& mod, void* out,
                             int64_t rows, int64_t dim, int64_t tokens, cudaStream_t stream) {
  if (x == nullptr || y == nullptr || out == nullptr || mod.gate == nullptr || !RowsOk(rows, dim) ||
      tokens <= 0) {
    return cudaErrorInvalidValue;
  }
  if (!Aligned16(x) || !Aligned16(y) || !Aligned16(out) || !ModRowsAligned(mod)) {
    return cudaErrorMisalignedAddress;
  }
  const int threads = static_cast<int>(std::min<int64_t>(256, ((dim / kVec + 31) / 32) * 32));
  GateResidualKernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(
      static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(y), mod,
      static_cast<__nv_bfloat16*>(out), dim, tokens);
  return cudaGetLastError();
}

}  // namespace ovid
