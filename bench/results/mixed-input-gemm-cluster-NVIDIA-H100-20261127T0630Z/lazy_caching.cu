// EXPERIMENT: lazy (dequantize into one workspace + cuBLAS) with the dequantization's stores
// kept in L2 (plain) or streamed (evict-first), against cuBLAS on resident bf16 weights, with
// every method cycling through weight copies totalling > 256 MB as ovid-bench-gpu does.
// Build: nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a
//   -I<repo> -I. -I<tenth-session results folder> lazy_caching.cu <repo>/kernels/cuda/dequantize.cu
//   <repo>/kernels/ggml_types.cc -lcublas -lcuda
#include "large_m_common.cuh"
#include "rotating_weights.cuh"

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
  for (const Case& c : cases) {
    const bool q4 = c.type == GgmlType::kQ4_K;
    RotatingWeights rw(c.type, c.n, c.k, rng, st);
    const std::vector<void*>&q = rw.q, &w = rw.w;
    const int nq = int(q.size()), nw = int(w.size());
    const int64_t wbytes = rw.wbytes;
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
    CK(cudaFree(ws));
  }
  return 0;
}
