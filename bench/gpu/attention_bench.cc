// ovid-bench-attention: the attention backends and the fused elementwise kernels at Ovi's
// shapes on the GPU, each against its baseline in the same process.
//
// 1. Attention (B = 1, 24 heads of 128, bf16, q/k/v as the model passes them: [B, L, H, d]
//    transposed to [B, H, L, d]): GPU time and TFLOP/s (4 Lq Lk d H per call) of LibTorch's
//    default choice, cuDNN, flash and memory-efficient attention; accuracy of each against an
//    f32 softmax(q k^T / sqrt d) v on two heads and the first 2048 queries: ||a - b|| / ||b||.
// 2. Elementwise: RMSNorm + RoPE, LayerNorm + modulation and the gated residual, fused kernel
//    vs the plain ATen chain, at 15,004 and 54,900 video tokens x 3072.
//
// usage: ovid-bench-attention [--quick]
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/models/ovi/ovi_block.h"
#include "engine/models/ovi/ovi_layers.h"
#include "engine/models/ovi/ovi_rope.h"
#include "engine/ops/attention.h"
#include "engine/ops/dit_ops.h"

namespace ovid::bench {
namespace {

const c10::Device kCuda(c10::kCUDA, 0);

// Mean GPU ms per call over `iters` calls after two warm-up calls.
double TimeMs(const std::function<void()>& fn, int iters) {
  fn();
  fn();
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  start.record(stream);
  for (int i = 0; i < iters; ++i) fn();
  stop.record(stream);
  stop.synchronize();
  return start.elapsed_time(stop) / iters;
}

double RelErr(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(at::kFloat), bf = b.to(at::kFloat);
  return af.sub(bf).norm().item<double>() / bf.norm().item<double>();
}

at::Tensor Heads(int64_t l, uint64_t seed) {  // [1, H, L, d] view of [1, L, H, d]
  at::manual_seed(seed);
  return at::randn({1, l, 24, 128}, at::TensorOptions(kCuda).dtype(at::kBFloat16)).transpose(1, 2);
}

void AttentionSection(bool quick) {
  struct Shape {
    const char* what;
    int64_t lq, lk;
  };
  std::vector<Shape> shapes = {{"video self 704x704 5s", 15004, 15004},
                               {"video text", 15004, 512},
                               {"video<-audio fusion", 15004, 157},
                               {"audio self", 157, 157},
                               {"audio text", 157, 512},
                               {"audio<-video fusion", 157, 15004},
                               {"video self 960x960 10s", 54900, 54900},
                               {"video<-audio 960", 54900, 314},
                               {"audio<-video 960", 314, 54900},
                               {"crossover", 15004, 2048},
                               {"crossover", 15004, 4096},
                               {"crossover", 15004, 8192}};
  if (quick) shapes.resize(3);
  const ops::AttentionBackend backends[] = {
      ops::AttentionBackend::kDefault,    ops::AttentionBackend::kTorch,
      ops::AttentionBackend::kFlashInfer, ops::AttentionBackend::kCudnn,
      ops::AttentionBackend::kFlash,      ops::AttentionBackend::kEfficient};
  std::printf("\n## Attention backends (B=1, 24 heads x 128, bf16)\n\n");
  std::printf("| shape | Lq | Lk | backend | ms | TFLOP/s | rel. error vs f32 |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Shape& s : shapes) {
    const at::Tensor q = Heads(s.lq, 1), k = Heads(s.lk, 2), v = Heads(s.lk, 3);
    // f32 reference on heads 0..1 and the first 2048 queries.
    const int64_t nq = std::min<int64_t>(s.lq, 2048);
    const at::Tensor qs = q.narrow(1, 0, 2).narrow(2, 0, nq).to(at::kFloat);
    const at::Tensor ks = k.narrow(1, 0, 2).to(at::kFloat), vs = v.narrow(1, 0, 2).to(at::kFloat);
    const at::Tensor ref =
        at::matmul(at::softmax(at::matmul(qs, ks.transpose(2, 3)).div(std::sqrt(128.0)), -1), vs);
    const double flop = 4.0 * s.lq * s.lk * 128 * 24;
    for (ops::AttentionBackend b : backends) {
      double ms = -1, err = -1;
      try {
        const at::Tensor out = ops::ScaledDotProductAttention(q, k, v, b);
        err = RelErr(out.narrow(1, 0, 2).narrow(2, 0, nq), ref);
        const int iters = std::max(3, static_cast<int>(2e12 / flop));
        ms = TimeMs([&] { ops::ScaledDotProductAttention(q, k, v, b); }, std::min(iters, 200));
      } catch (const std::exception& e) {
        std::printf("| %s | %lld | %lld | %s | failed: %.80s | | |\n", s.what,
                    static_cast<long long>(s.lq), static_cast<long long>(s.lk),
                    ops::AttentionBackendName(b), e.what());
        continue;
      }
      std::printf("| %s | %lld | %lld | %s | %.3f | %.0f | %.2e |\n", s.what,
                  static_cast<long long>(s.lq), static_cast<long long>(s.lk),
                  ops::AttentionBackendName(b), ms, flop / (ms * 1e-3) / 1e12, err);
    }
    // The same inputs laid out [B, H, L, d] contiguously (a layout the RoPE kernel could
    // write directly), LibTorch's choice and cuDNN.
    const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    for (ops::AttentionBackend b :
         {ops::AttentionBackend::kDefault, ops::AttentionBackend::kCudnn}) {
      const int iters = std::max(3, static_cast<int>(2e12 / flop));
      const double ms =
          TimeMs([&] { ops::ScaledDotProductAttention(qc, kc, vc, b); }, std::min(iters, 200));
      std::printf("| %s | %lld | %lld | %s, [B,H,L,d] contiguous | %.3f | %.0f | |\n", s.what,
                  static_cast<long long>(s.lq), static_cast<long long>(s.lk),
                  ops::AttentionBackendName(b), ms, flop / (ms * 1e-3) / 1e12);
    }
  }
}

void ElementwiseSection(bool quick) {
  std::printf("\n## Fused elementwise kernels vs the plain ATen chains (bf16, D = 3072)\n\n");
  std::printf(
      "| op | tokens | plain ms | fused ms | speed-up | fused GB/s (bytes read + written) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::vector<int64_t> token_counts = {15004, 54900};
  if (quick) token_counts.resize(1);
  const int64_t d = 3072, heads = 24, hd = 128;
  for (int64_t l : token_counts) {
    // 704x704 5 s: 31 x 22 x 22 latent patches; 960x960 10 s: 61 x 30 x 30.
    const int64_t f = l == 15004 ? 31 : 61, hw = l == 15004 ? 22 : 30;
    const auto bf16 = at::TensorOptions(kCuda).dtype(at::kBFloat16);
    at::manual_seed(5);
    const at::Tensor x = at::randn({1, l, d}, bf16);
    const at::Tensor y = at::randn({1, l, d}, bf16);
    const at::Tensor w = at::randn({d}, at::TensorOptions(kCuda).dtype(at::kFloat));
    const ovi::RopeTable rope = ovi::VideoRopeTable(f, hw, hw, hd, at::kFloat, kCuda);
    const ovi::Modulation mod{at::randn({1, 6, d}, bf16), {}, 0};
    const double row_bytes = 2.0 * l * d;  // one bf16 activation
    struct Case {
      const char* what;
      std::function<void()> plain, fused;
      double bytes;  // fused kernel traffic
    };
    const Case cases[] = {
        {"RMSNorm + RoPE (q or k)",
         [&] {
           ovi::ApplyRope(ovi::RmsNorm(x, w).view({1, l, heads, hd}), rope);
         },
         [&] {
           at::Tensor r;
           (void)ops::RmsNormRope(x, w, rope.cos, rope.sin, hd, ovi::kOviEps, {nullptr, &r});
         },
         2 * row_bytes},
        {"LayerNorm + modulation", [&] { mod.Affine(ovi::LayerNorm(x), 0, 1); },
         [&] { mod.NormAffine(x, 0, 1, true); }, 2 * row_bytes},
        {"gated residual", [&] { x.add(mod.Gate(y, 2)); }, [&] { mod.AddGated(x, y, 2, true); },
         3 * row_bytes},
    };
    for (const Case& c : cases) {
      const double plain = TimeMs(c.plain, 20), fused = TimeMs(c.fused, 20);
      std::printf("| %s | %lld | %.3f | %.3f | %.1fx | %.0f |\n", c.what, static_cast<long long>(l),
                  plain, fused, plain / fused, c.bytes / (fused * 1e-3) / 1e9);
    }
  }
}

}  // namespace
}  // namespace ovid::bench

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  try {
    ovid::bench::AttentionSection(quick);
    ovid::bench::ElementwiseSection(quick);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovid-bench-attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
