// File: server/metrics_step_timer.h
// Turns a job's "denoise" progress reports into per-step durations for ovid_denoise_step_seconds.
// The engine reports elapsed time since the job started running, not step times, so the time of
// a step is the difference between two consecutive denoise reports of the same job; this keeps
// the last one per job (a small map keyed by job id, erased when the job finishes).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ovid/engine.h"

namespace ovid::server {

// `steps` steps of `seconds` each finished since the previous report (steps == 0: nothing to
// observe). More than one step per report happens when the engine reports less often than
// every step; each step then gets the average.
struct StepTimes {
  uint32_t steps = 0;
  double seconds = 0;
};

class DenoiseStepTimer {
 public:
  // Reports with a stage other than "denoise" are ignored. The first denoise report of a job
  // only sets the mark (the engine's step-0 report at the loop start anchors step 1). A report
  // that goes backwards (step or elapsed) resets the mark instead of producing a negative time.
  StepTimes OnProgress(const std::string& job_id, const Progress& progress);
  // Drops the job's mark; called when the job finishes, so the map holds only running jobs.
  void Forget(const std::string& job_id);
  size_t tracked() const;

 private:
  struct Mark {
    uint32_t step = 0;
    double elapsed_seconds = 0;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Mark> marks_;
};

}  // namespace ovid::server
