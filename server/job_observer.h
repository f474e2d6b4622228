// File: server/job_observer.h
// What the job runtime tells the outside about jobs as they go: the metrics (server/metrics) and
// the per-job log line listen here, so job_queue.cc knows nothing of Prometheus or logging.
//
// Calls come from the thread where the thing happened (a gRPC reaction for OnRejected,
// OnAuthRefused and for a
// CancelJob's OnFinished, the queue-limit timer for a job that waited too long, a worker for the
// rest); implementations must be thread-safe and quick, and must not call back into the queue.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ovid/engine.h"
#include "server/job.h"

namespace ovid::server {

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  // A request refused before it became a job: invalid, queue full, does not fit, draining,
  // unauthenticated. `status` says which; `peer` is the client's address where the refusal
  // knew it (gRPC's form, "ipv4:10.0.0.7:51234"), else empty.
  virtual void OnRejected(const absl::Status& status, std::string_view peer) {
    (void)status;
    (void)peer;
  }
  void OnRejected(const absl::Status& status) { OnRejected(status, {}); }
  // A call of a method other than Generate (GetJob, WatchJob, ...) refused for its credentials;
  // Generate's refusals go to OnRejected. Not a job refusal, so the metrics leave it to
  // ovid_grpc_requests_total; the log names the method and the peer.
  virtual void OnAuthRefused(std::string_view method, const absl::Status& status,
                             std::string_view peer) {
    (void)method;
    (void)status;
    (void)peer;
  }
  // A job was admitted (Accepted is its event 0).
  virtual void OnQueued(const Job& job) { (void)job; }
  // A worker took the job after it waited `queue_wait`.
  virtual void OnStarted(const Job& job, absl::Duration queue_wait) {
    (void)job;
    (void)queue_wait;
  }
  // Every progress report of the engine, on the worker, in order.
  virtual void OnProgress(const Job& job, const Progress& progress) {
    (void)job;
    (void)progress;
  }
  // The job ended: `status` OK with `result` set, or the failure/cancellation (result null).
  // `total` runs from creation (queue wait included).
  virtual void OnFinished(const Job& job, const absl::Status& status,
                          const GenerationResult* result, absl::Duration total) {
    (void)job;
    (void)status;
    (void)result;
    (void)total;
  }
};

}  // namespace ovid::server
