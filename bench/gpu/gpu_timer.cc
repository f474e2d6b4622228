// File: bench/gpu/gpu_timer.cc
#include "bench/gpu/gpu_timer.h"

#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ovid::bench {
namespace {

void Check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

std::vector<Timing> TimeInterleaved(const std::vector<TimedMethod>& methods, int batches) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "cudaEventCreate");
  Check(cudaEventCreate(&stop), "cudaEventCreate");
  struct State {
    std::vector<double> gpu, host;
    double host_batch_us = 2000;  // first guess; then the last batch's enqueue time
    int v = 0;
  };
  std::vector<State> state(methods.size());
  try {
    // Every round runs the methods in a new order, shuffled with a fixed seed (the same orders in
    // every run), so over the rounds each method follows every other about equally often: a
    // batch inherits the clock its predecessor left (the power controller lags by tens of ms).
    // A fixed order gave each method the same neighbour every round, and so does rotating it.
    std::vector<size_t> order(methods.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937 rng(20261127);
    for (int b = -2; b < batches; ++b) {
      std::shuffle(order.begin(), order.end(), rng);
      for (const size_t k : order) {
        const TimedMethod& m = methods[k];
        State& st = state[k];
        // ~2 cycles per ns on an H100/H200; 1.5x the last enqueue time, so the queue never runs
        // dry.
        at::cuda::sleep(
            static_cast<int64_t>(std::clamp(1.5 * st.host_batch_us, 50.0, 50000.0) * 2000));
        Check(cudaEventRecord(start, stream), "cudaEventRecord");
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < m.calls; ++i) {
          m.fn(st.v);
          st.v = (st.v + 1) % m.variants;
        }
        st.host_batch_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        Check(cudaGetLastError(), "launch");
        Check(cudaEventRecord(stop, stream), "cudaEventRecord");
        Check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        Check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        if (b >= 0) {
          st.gpu.push_back(1000.0 * ms / m.calls);
          st.host.push_back(st.host_batch_us / m.calls);
        }
      }
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::vector<Timing> out;
  for (State& st : state) out.push_back({Median(st.gpu), Median(st.host)});
  return out;
}

Timing TimeCalls(const std::function<void(int)>& fn, int variants, int calls, int batches) {
  return TimeInterleaved({{fn, variants, calls}}, batches)[0];
}

}  // namespace ovid::bench
