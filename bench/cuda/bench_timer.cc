// File: bench/cuda/bench_timer.cc
#include "bench/cuda/bench_timer.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace ovid::bench {

bool Failed(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return false;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(err));
  return true;
}

double MedianMicros(const std::function<cudaError_t(int)>& enqueue, int variants,
                    cudaStream_t stream, int calls_per_batch, int batches) {
  cudaEvent_t start, stop;
  if (Failed(cudaEventCreate(&start), "cudaEventCreate")) return -1;
  if (Failed(cudaEventCreate(&stop), "cudaEventCreate")) return -1;
  std::vector<double> per_call;
  int v = 0;
  bool ok = true;
  for (int b = -2; b < batches && ok; ++b) {  // two warm-up batches
    ok = !Failed(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < calls_per_batch && ok; ++i) {
      ok = !Failed(enqueue(v), "launch");
      v = (v + 1) % variants;
    }
    ok = ok && !Failed(cudaEventRecord(stop, stream), "cudaEventRecord") &&
         !Failed(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    ok = ok && !Failed(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (ok && b >= 0) per_call.push_back(1000.0 * ms / calls_per_batch);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!ok || per_call.empty()) return -1;
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

}  // namespace ovid::bench
