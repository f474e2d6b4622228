// EXPERIMENT: lazy (dequantize into one workspace + cuBLAS) with the dequantization's stores
// kept in L2 (plain) or streamed (evict-first), against cuBLAS on resident bf16 weights, with
// every method cycling through weight copies totalling > 256 MB as ovid-bench-gpu does.
// Build: nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a
//   -I<repo> -I<tenth-session results folder> lazy_caching.cu <repo>/kernels/cuda/dequantize.cu
//   <repo>/kernels/ggml_types.cc -lcublas -lcuda
#include "large_m_common.cuh"
#include "kernels/cuda/dequantize.cuh"

using namespace ovid;

struct Case {
  GgmlType type;
  int64_t n, k;
};

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::mt19937 rng(1);
  const Case cases[] = {{GgmlType::kQ4_K, 3072, 3072}, {GgmlType::kQ6_K, 3072, 3072},
                        {GgmlType::kQ4_K, 14336, 3072}, {GgmlType::kQ6_K, 3072, 14336}};
  const int64_t ms[] = {15004, 2048, 512};
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  std::printf("%s, %d SMs; medians of %d interleaved rounds of 5 launches; weights rotate over > 256 MB\n",
              prop.name, prop.multiProcessorCount, rounds);
  const int64_t kRotate = int64_t{256} << 20;
  for (const Case& c : cases) {
    const bool q4 = c.type == GgmlType::kQ4_K;
    const int64_t block_bytes = q4 ? 144 : 210, row_bytes = c.k / 256 * block_bytes;
    const int64_t qbytes = c.n * row_bytes, wbytes = c.n * c.k * 2;
    const int nq = int(kRotate / qbytes + 1), nw = int(kRotate / wbytes + 1);
    std::vector<uint8_t> hq(static_cast<size_t>(qbytes));
    for (auto& b : hq) b = uint8_t(rng());
    for (int64_t o = 0; o < qbytes; o += block_bytes) {  // d (and dmin) = 0.01 in f16
      const int64_t d = q4 ? 0 : 208;
      hq[size_t(o + d)] = 0x1F;
      hq[size_t(o + d + 1)] = 0x21;
      if (q4) {
        hq[size_t(o + 2)] = 0x1F;
        hq[size_t(o + 3)] = 0x21;
      }
    }
    std::vector<void*> q(nq), w(nw);
    for (auto& p : q) {
      CK(cudaMalloc(&p, size_t(qbytes)));
      CK(cudaMemcpy(p, hq.data(), size_t(qbytes), cudaMemcpyHostToDevice));
    }
    for (auto& p : w) {
      CK(cudaMalloc(&p, size_t(wbytes)));
      CK(DequantizeCuda(c.type, q[0], p, FloatFormat::kBF16, c.n, c.k, st));
    }
    void* ws;
    CK(cudaMalloc(&ws, size_t(wbytes)));
    for (int64_t m : ms) {
      const std::vector<uint16_t> hx = RandomBf16Host(size_t(m * c.k), 1.f, rng);
      void *x, *y;
      CK(cudaMalloc(&x, hx.size() * 2));
      CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
      CK(cudaMalloc(&y, size_t(m * c.n * 2)));
      int iw = 0, iq[5] = {0, 0, 0, 0, 0};
      const std::vector<double> t = MedianUs(st, 5, rounds, [&](int v) {
        if (v == 0) {
          Cublas(st, w[iw], x, y, m, c.n, c.k);
          iw = (iw + 1) % nw;
          return;
        }
        const DequantCaching cache = (v == 1 || v == 3) ? DequantCaching::kKeepInL2 : DequantCaching::kStream;
        CK(DequantizeCuda(c.type, q[iq[v]], ws, FloatFormat::kBF16, c.n, c.k, st, cache));
        iq[v] = (iq[v] + 1) % nq;
        if (v <= 2) Cublas(st, ws, x, y, m, c.n, c.k);
      });
      std::printf("%s [%5lld,%5lld] M %5lld: bf16 cuBLAS %7.1f us | lazy keep-L2 %.4fx | lazy stream %.4fx | dequant alone keep %.1f us, stream %.1f us\n",
                  q4 ? "Q4_K" : "Q6_K", (long long)c.n, (long long)c.k, (long long)m, t[0], t[1] / t[0],
                  t[2] / t[0], t[3], t[4]);
      CK(cudaFree(x));
      CK(cudaFree(y));
    }
    for (auto p : q) CK(cudaFree(p));
    for (auto p : w) CK(cudaFree(p));
    CK(cudaFree(ws));
  }
  return 0;
}
