// File: server/metrics_state.h
// The gauges that mirror state the daemon already keeps (queue depth, running jobs, VRAM by
// category, model and build info), computed at scrape time from MetricsSources. A Collectable
// instead of gauges refreshed by a polling thread: every scrape sees the state of that moment,
// and an idle daemon does no work between scrapes.
#pragma once

#include <mutex>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics_sources.h"

namespace ovid::server {

class StateCollector : public prometheus::Collectable {
 public:
  // `process_start_seconds` is exported as ovid_process_start_time_seconds.
  StateCollector(MetricsSources sources, double process_start_seconds);

  // Replaces the sources. Once it returns, no scrape calls the old callbacks any more, so the
  // daemon can swap in the queue's callbacks after creating it and take them out again before
  // destroying it.
  void SetSources(MetricsSources sources);

  // Called by the exposer on its own thread for every scrape.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // Held while the callbacks run: that is what makes SetSources's promise hold.
  mutable std::mutex mu_;
  MetricsSources sources_;
  const double process_start_seconds_;
};

}  // namespace ovid::server
