// File: server/metrics_state.cc
#include "server/metrics_state.h"

#include <string>
#include <utility>

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace ovid::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

MetricFamily GaugeFamily(std::string name, std::string help) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void AddSample(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

MetricFamily SingleGauge(std::string name, std::string help, double value) {
  MetricFamily family = GaugeFamily(std::move(name), std::move(help));
  AddSample(family, value);
  return family;
}

void AppendVram(const VramSnapshot& vram, std::vector<MetricFamily>& out) {
  MetricFamily resident = GaugeFamily(
      "ovid_weights_resident_bytes",
      "Device memory held by the model's weights as stored (GGUF blocks), by ggml type.");
  for (const QuantTypeCount& type : vram.resident_by_type) {
    AddSample(resident, static_cast<double>(type.bytes), {{"type", type.type}});
  }
  // A family with no samples would print HELP/TYPE lines for nothing; leave it out instead.
  if (!resident.metric.empty()) out.push_back(std::move(resident));
  out.push_back(SingleGauge("ovid_weights_bf16_equivalent_bytes",
                            "What the resident weights would take in bf16.",
                            static_cast<double>(vram.weights_bf16_equivalent_bytes)));
  out.push_back(SingleGauge("ovid_dequant_workspace_bytes",
                            "Device memory of the dequantization workspaces (one per worker).",
                            static_cast<double>(vram.dequant_workspace_bytes)));
  out.push_back(SingleGauge("ovid_bf16_cache_bytes",
                            "Device memory of bf16 weight copies kept by --dequant cache.",
                            static_cast<double>(vram.cache_bytes)));
  out.push_back(SingleGauge("ovid_torch_allocated_bytes",
                            "Device memory LibTorch's caching allocator has handed out now.",
                            static_cast<double>(vram.torch_allocated_bytes)));
  out.push_back(SingleGauge("ovid_torch_reserved_bytes",
                            "Device memory LibTorch's caching allocator holds from the driver.",
                            static_cast<double>(vram.torch_reserved_bytes)));
  out.push_back(SingleGauge("ovid_torch_peak_allocated_bytes",
                            "Highest ovid_torch_allocated_bytes since the last reset: the engine "
                            "resets it as each stage of a job running alone begins.",
                            static_cast<double>(vram.torch_peak_bytes)));
  out.push_back(SingleGauge("ovid_gpu_memory_total_bytes",
                            "The device's total memory (0 on the CPU).",
                            static_cast<double>(vram.device_total_bytes)));
  out.push_back(SingleGauge("ovid_gpu_memory_used_bytes",
                            "The device's used memory, all processes (0 on the CPU).",
                            static_cast<double>(vram.device_used_bytes)));
}

}  // namespace

StateCollector::StateCollector(MetricsSources sources, double process_start_seconds)
    : sources_(std::move(sources)), process_start_seconds_(process_start_seconds) {}

void StateCollector::SetSources(MetricsSources sources) {
  std::lock_guard<std::mutex> lock(mu_);
  sources_ = std::move(sources);
}

std::vector<MetricFamily> StateCollector::Collect() const {
  std::vector<MetricFamily> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (sources_.queue_depth) {
    out.push_back(SingleGauge("ovid_queue_depth", "Jobs admitted and waiting for a worker.",
                              static_cast<double>(sources_.queue_depth())));
  }
  if (sources_.running_jobs) {
    out.push_back(SingleGauge("ovid_requests_running", "Jobs a worker is running now.",
                              static_cast<double>(sources_.running_jobs())));
  }
  if (sources_.vram_reserved_bytes) {
    out.push_back(SingleGauge(
        "ovid_vram_reserved_bytes",
        "Device memory admission has reserved for running jobs (the sum of their estimates).",
        static_cast<double>(sources_.vram_reserved_bytes())));
  }
  if (sources_.vram) AppendVram(sources_.vram(), out);
  if (sources_.limits.workers != 0) {
    out.push_back(SingleGauge("ovid_queue_capacity",
                              "Jobs that may wait for a worker (--max-queue); more are refused.",
                              sources_.limits.max_queue));
    out.push_back(SingleGauge("ovid_workers", "Jobs that may run at once (--workers).",
                              sources_.limits.workers));
    out.push_back(SingleGauge(
        "ovid_vram_budget_bytes",
        "Device memory admission lets running jobs reserve in all (--vram-budget, or the free "
        "memory after warm-up less 5%); 0: no budget.",
        static_cast<double>(sources_.limits.vram_budget_bytes)));
  }

  // Only once a model is loaded: while it loads the labels would be empty, a series of blanks
  // that then changes its labels (docs/metrics.md: absent until there is something to say).
  if (!sources_.model.variant.empty()) {
    MetricFamily model = GaugeFamily("ovid_model_info", "The loaded model; always 1.");
    AddSample(model, 1,
              {{"batch_guidance", sources_.model.batch_guidance},
               {"device", sources_.model.device},
               {"variant", sources_.model.variant},
               {"weight_mode", sources_.model.weight_mode}});
    out.push_back(std::move(model));
  }
  MetricFamily build = GaugeFamily("ovid_build_info", "The daemon's build; always 1.");
  AddSample(build, 1, {{"version", sources_.version}});
  out.push_back(std::move(build));
  out.push_back(SingleGauge("ovid_process_start_time_seconds",
                            "Start time of the process since the Unix epoch.",
                            process_start_seconds_));
  return out;
}

}  // namespace ovid::server
