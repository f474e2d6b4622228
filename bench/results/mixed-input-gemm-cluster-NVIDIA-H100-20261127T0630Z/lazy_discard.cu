// EXPERIMENT: does dropping the lazy workspace's dirty L2 lines after the GEMM
// (discard.global.L2: no write-back) lower lazy's cost at the power cap? Batches of B calls
// behind a 2 ms spin, as bench/gpu/gpu_timer.h times them; weights rotate over > 256 MB.
// Build and run: run.sh lazy (it needs the tenth session's check.cuh).
#include "rotating_weights.cuh"

#include <algorithm>

using namespace ovid;

__global__ void Spin(long long ns) {
  long long t0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  for (;;) {
    long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    if (t - t0 > ns) break;
  }
}
// One 128-byte L2 line per thread, dropped without write-back (its contents become undefined).
__global__ void DiscardL2(char* p, long long lines) {
  const long long i = blockIdx.x * 256ll + threadIdx.x;
  if (i < lines) asm volatile("discard.global.L2 [%0], 128;" ::"l"(p + i * 128) : "memory");
}

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  std::mt19937 rng(1);
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  struct Case { GgmlType type; int64_t n, k; };
  const Case cases[] = {{GgmlType::kQ4_K, 3072, 3072}, {GgmlType::kQ4_K, 14336, 3072}};
  const int64_t m = 15004;
  for (const Case& c : cases) {
    RotatingWeights rw(c.type, c.n, c.k, rng, st);
    const std::vector<void*>&q = rw.q, &w = rw.w;
    const int nq = int(q.size()), nw = int(w.size());
    const int64_t wbytes = rw.wbytes;
    void *ws, *x, *y;
    CK(cudaMalloc(&ws, size_t(wbytes)));
    const std::vector<uint16_t> hx = RandomBf16Host(size_t(m * c.k), 1.f, rng);
    CK(cudaMalloc(&x, hx.size() * 2));
    CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&y, size_t(m * c.n * 2)));
    const long long lines = wbytes / 128;
    int iw = 0, iq = 0;
    auto call = [&](int v) {
      if (v == 0) {
        Cublas(st, w[iw], x, y, m, c.n, c.k);
        iw = (iw + 1) % nw;
        return;
      }
      CK(DequantizeCuda(GgmlType::kQ4_K, q[iq], ws, FloatFormat::kBF16, c.n, c.k, st, DequantCaching::kKeepInL2));
      iq = (iq + 1) % nq;
      Cublas(st, ws, x, y, m, c.n, c.k);
      if (v == 2) DiscardL2<<<unsigned((lines + 255) / 256), 256, 0, st>>>(static_cast<char*>(ws), lines);
    };
    for (int batch : {20, 5}) {
      std::vector<float> t[3];
      for (int r = 0; r < rounds + 2; ++r) {
        for (int v = 0; v < 3; ++v) {
          Spin<<<1, 1, 0, st>>>(2000000);
          CK(cudaEventRecord(e0, st));
          for (int i = 0; i < batch; ++i) call(v);
          CK(cudaEventRecord(e1, st));
          CK(cudaEventSynchronize(e1));
          float ms;
          CK(cudaEventElapsedTime(&ms, e0, e1));
          if (r >= 2) t[v].push_back(ms * 1000 / batch);
        }
      }
      double med[3];
      for (int v = 0; v < 3; ++v) {
        std::sort(t[v].begin(), t[v].end());
        med[v] = t[v][t[v].size() / 2];
      }
      std::printf("Q4_K [%5lld,%5lld] M %lld, batches of %2d: bf16 %.1f us | lazy %.4fx (+%.1f us) | lazy + discard %.4fx (+%.1f us)\n",
                  (long long)c.n, (long long)c.k, (long long)m, batch, med[0], med[1] / med[0],
                  med[1] - med[0], med[2] / med[0], med[2] - med[0]);
    }
    CK(cudaFree(ws));
    CK(cudaFree(x));
    CK(cudaFree(y));
  }
  return 0;
}
