// File: engine/ops/gpu_timer.cc
#include "engine/ops/gpu_timer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/ops/torch_status.h"

#ifdef OVID_TORCH_CUDA
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#endif

namespace ovid::ops {

#ifdef OVID_TORCH_CUDA
namespace {

void Check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    ThrowStatus(absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(err))));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A CUDA event, destroyed on every way out (a second one failing to create included).
struct Event {
  cudaEvent_t event = nullptr;
  Event() { Check(cudaEventCreate(&event), "cudaEventCreate"); }
  ~Event() {
    if (event != nullptr) cudaEventDestroy(event);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

}  // namespace

absl::StatusOr<std::vector<GpuTiming>> TimeInterleaved(const std::vector<TimedMethod>& methods,
                                                       int batches) {
  if (methods.empty() || batches < 1) {
    return absl::InvalidArgumentError("TimeInterleaved needs a method and a batch");
  }
  for (const TimedMethod& m : methods) {
    if (!m.fn || m.variants < 1 || m.calls < 1) {
      return absl::InvalidArgumentError("TimeInterleaved: a method without calls");
    }
  }
  return GuardTorch("timing on the GPU", [&]() -> std::vector<GpuTiming> {
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
    const Event start, stop;
    struct State {
      std::vector<double> gpu, host;
      double host_batch_us = 2000;  // first guess; then the last batch's enqueue time
      int v = 0;
    };
    std::vector<State> state(methods.size());
    // Every round runs the methods in a new order, shuffled with a fixed seed (the same orders in
    // every run), so over the rounds each method follows every other about equally often: a
    // batch inherits the clock its predecessor left (the power controller lags by tens of ms).
    std::vector<size_t> order(methods.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937 rng(20261127);
    for (int b = -2; b < batches; ++b) {
      std::shuffle(order.begin(), order.end(), rng);
      for (const size_t k : order) {
        const TimedMethod& m = methods[k];
        State& st = state[k];
        // ~2 cycles per ns on an H100/H200; 1.5x the last enqueue time, so the queue never
        // runs dry.
        at::cuda::sleep(
            static_cast<int64_t>(std::clamp(1.5 * st.host_batch_us, 50.0, 50000.0) * 2000));
        Check(cudaEventRecord(start.event, stream), "cudaEventRecord");
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < m.calls; ++i) {
          m.fn(st.v);
          st.v = (st.v + 1) % m.variants;
        }
        st.host_batch_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        Check(cudaGetLastError(), "a timed launch");
        Check(cudaEventRecord(stop.event, stream), "cudaEventRecord");
        Check(cudaEventSynchronize(stop.event), "cudaEventSynchronize");
        float ms = 0;
        Check(cudaEventElapsedTime(&ms, start.event, stop.event), "cudaEventElapsedTime");
        if (b >= 0) {
          st.gpu.push_back(1000.0 * ms / m.calls);
          st.host.push_back(st.host_batch_us / m.calls);
        }
      }
    }
    std::vector<GpuTiming> out;
    for (State& st : state) out.push_back({Median(st.gpu), Median(st.host)});
    return out;
  });
}

#else

absl::StatusOr<std::vector<GpuTiming>> TimeInterleaved(const std::vector<TimedMethod>&, int) {
  return absl::FailedPreconditionError("GPU timing needs a CUDA build");
}

#endif

}  // namespace ovid::ops
