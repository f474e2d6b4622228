#include "tools/ovid_forward/kernel_profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"

namespace ovid::tools {
namespace {

namespace kineto = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

const std::set<ActivityType>& Activities() {
  static const std::set<ActivityType> kActivities = {ActivityType::CPU, ActivityType::CUDA};
  return kActivities;
}

// Coarse families by the kernel's (mangled or demangled) name: enough to see where a pass goes.
std::string Family(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("fmha") || has("flash") || has("ttention") || has("sdpa") || has("Prefill")) {
    return "attention";
  }
  if (has("gemm") || has("nvjet") || has("xmma") || has("cutlass") || has("Kernel2")) {
    return "gemm";
  }
  if (has("ovid")) return "ovid kernels";
  if (has("Memcpy") || has("Memset")) return "memcpy/memset";
  return "other (ATen elementwise, reductions, ...)";
}

struct Sum {
  uint64_t ns = 0;
  int64_t count = 0;
};

}  // namespace

absl::Status StartKernelProfile() {
  return ops::GuardTorch("starting the Kineto profiler", [] {
    const ProfilerConfig config(ProfilerState::KINETO);
    kineto::prepareProfiler(config, Activities());
    kineto::enableProfiler(config, Activities());
  });
}

absl::StatusOr<std::string> StopKernelProfile(const std::string& trace_path, int top) {
  std::unique_ptr<kineto::ProfilerResult> result;
  OVID_RETURN_IF_ERROR(
      ops::GuardTorch("stopping the Kineto profiler", [&] { result = kineto::disableProfiler(); }));
  if (!trace_path.empty()) {
    OVID_RETURN_IF_ERROR(
        ops::GuardTorch("writing the profiler trace", [&] { result->save(trace_path); }));
  }
  std::map<std::string, Sum> by_name, by_family;
  Sum total;
  for (const kineto::KinetoEvent& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
    const std::string name = e.name();
    for (Sum* s : {&by_name[name], &by_family[Family(name)], &total}) {
      s->ns += e.durationNs();
      ++s->count;
    }
  }
  if (total.count == 0) {
    return absl::FailedPreconditionError(
        "the profiler saw no GPU kernels (CUPTI not available, or the pass ran on the CPU)");
  }
  auto sorted = [](const std::map<std::string, Sum>& m) {
    std::vector<std::pair<std::string, Sum>> v(m.begin(), m.end());
    std::sort(v.begin(), v.end(),
              [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
    return v;
  };
  auto row = [&](const std::string& name, const Sum& s) {
    return absl::StrFormat("%10.3f ms %6.2f%% %7d  %s\n", s.ns / 1e6, 100.0 * s.ns / total.ns,
                           s.count, name.substr(0, 140));
  };
  std::string out = absl::StrFormat("GPU kernel time %.3f ms in %d kernels and copies\n",
                                    total.ns / 1e6, total.count);
  absl::StrAppend(&out, "by family:\n");
  for (const auto& [name, s] : sorted(by_family)) absl::StrAppend(&out, row(name, s));
  absl::StrAppend(&out, "top ", top, " by name:\n");
  int n = 0;
  for (const auto& [name, s] : sorted(by_name)) {
    if (n++ == top) break;
    absl::StrAppend(&out, row(name, s));
  }
  return out;
}

}  // namespace ovid::tools
