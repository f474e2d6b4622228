// File: server/job_schedule.h
// How a job is scheduled, apart from what it generates: its priority among queued jobs and how
// long it may wait for a worker (GenerateRequest.priority / max_queue_seconds). The engine never
// sees these; they are the queue's business.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace ovid::server {

// GenerateRequest.priority's range. Wide enough for a few tiers with room between them, small
// enough that nobody mistakes it for a timestamp or a weight.
inline constexpr int32_t kMinPriority = -100;
inline constexpr int32_t kMaxPriority = 100;
// GenerateRequest.max_queue_seconds' range (and --max-queue-wait's, 0 aside). The floor: a job a
// free worker could take at once must not time out while the worker wakes (~10-100 us, more under
// load); the ceiling: a day, like --drain-timeout's bound.
inline constexpr double kMinQueueSecondsLimit = 0.01;
inline constexpr double kMaxQueueSecondsLimit = 86400;

// --tenant-scheduling: how jobs of one priority take their turn (server/start_order.h).
enum class TenantScheduling {
  kFair,   // the tenants take turns: fewest running, then longest since its last start
  kShare,  // the tenant that has used the least worker time, then longest since its last start
  kFifo,   // arrival order, whoever the tenant
};

// --tenant-scheduling's spelling of `policy` (ServingLimits.tenant_scheduling).
inline const char* TenantSchedulingName(TenantScheduling policy) {
  switch (policy) {
    case TenantScheduling::kShare:
      return "share";
    case TenantScheduling::kFifo:
      return "fifo";
    case TenantScheduling::kFair:
      break;
  }
  return "fair";
}

struct JobSchedule {
  int32_t priority = 0;  // higher starts first; equal ones in arrival order
  // Longest wait in the queue; infinite = no limit of the request's own (the server's
  // --max-queue-wait may still apply).
  absl::Duration max_queue_wait = absl::InfiniteDuration();
  // Time left until the Generate call's deadline (infinite: none). The job is stopped then with
  // DEADLINE_EXCEEDED, queued or running, whether or not a stream still follows it: a client
  // that set keep_on_disconnect and went away is still owed the deadline it asked for.
  absl::Duration call_time_left = absl::InfiniteDuration();
  // Whose job it is (Caller::tenant): only that tenant's tokens, and tokens without a tenant,
  // see it. Empty: every token sees it.
  std::string tenant;
};

}  // namespace ovid::server
