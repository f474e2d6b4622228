// File: server/metrics_sources.h
// What the metrics read from the rest of the daemon at scrape time. Callbacks rather than
// pointers to JobQueue / LoadedPipeline keep server/metrics free of the queue's and the engine's
// lifetimes and let tests feed fixed numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "ovid/ovi_pipeline.h"

namespace ovid::server {

struct MetricsSources {
  // Called on the metrics server's thread at every scrape; must be thread-safe and quick (no
  // device sync). An empty callback leaves the gauges it feeds out of the scrape (before the
  // queue exists, say) rather than exporting a made-up zero.
  std::function<size_t()> queue_depth;            // JobQueue::queued
  std::function<size_t()> running_jobs;           // JobQueue::running
  std::function<uint64_t()> vram_reserved_bytes;  // JobQueue::vram_reserved_bytes
  std::function<VramSnapshot()> vram;             // LoadedPipeline::Vram

  // The admission limits the gauges above are measured against, exported (with the queue) as
  // ovid_queue_capacity, ovid_workers and ovid_vram_budget_bytes. workers == 0: not known yet,
  // left out.
  struct Limits {
    uint32_t max_queue = 0;          // --max-queue
    uint32_t workers = 0;            // --workers
    uint64_t vram_budget_bytes = 0;  // for all jobs at once; 0: none (the CPU by default)
  } limits;

  // Static: read once, exported as ovid_model_info{variant, weight_mode, device, batch_guidance} and
  // ovid_build_info{version}.
  ModelDescription model;  // LoadedPipeline::Describe()
  std::string version;     // the daemon's build version
};

}  // namespace ovid::server
