// File: tools/ovidctl/follow.cc
#include "tools/ovidctl/follow.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

namespace ovidctl {

FollowResult FollowJob(const Connection& conn, ovid::v1::Generation::Stub& stub,
                       const ovid::v1::GenerateRequest* request, const std::string& job_id,
                       const FollowHooks& hooks, const FollowOptions& options) {
  FollowResult r;
  r.job_id = job_id;
  uint64_t next_index = 0;
  int failures = 0;
  bool first = true;
  for (;;) {
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    std::unique_ptr<grpc::ClientReader<ovid::v1::GenerateEvent>> reader;
    if (first && request != nullptr) {
      reader = stub.Generate(&ctx, *request);
    } else {
      ovid::v1::JobRef ref;
      ref.set_job_id(r.job_id);
      ref.set_from_event(next_index);
      reader = stub.WatchJob(&ctx, ref);
    }
    first = false;

    ovid::v1::GenerateEvent ev;
    bool stop = false;     // the job's outcome is known (JobError) or a hook refused an event
    bool refused = false;  // a hook refused an event: the server would go on streaming
    while (!stop && reader->Read(&ev)) {
      if (ev.index() < next_index) continue;  // a replay overlapping what was handled
      next_index = ev.index() + 1;
      if (!ev.job_id().empty()) r.job_id = ev.job_id();
      failures = 0;
      ++r.events;
      if (hooks.on_event) {
        if (absl::Status s = hooks.on_event(ev); !s.ok()) {
          r.error_code = static_cast<int>(s.code());
          r.error_message = std::string(s.message());
          stop = refused = r.refused = true;
        }
      }
      if (ev.has_error()) {
        // A JobError is a failure even if the server left its code at 0 (OK).
        r.error_code = ev.error().code() != 0 ? ev.error().code()
                                              : static_cast<int>(grpc::StatusCode::UNKNOWN);
        r.error_message = ev.error().message();
        r.job_failed = !refused;
        stop = true;
      } else if (ev.has_final()) {
        r.final = ev.final();
      }
    }
    if (stop) {
      // After a refused event, stop the stream now. After a JobError the server ends the call at
      // once: let it, so the call ends with the job's status on both sides (the daemon's RPC
      // metrics count that, not a CANCELLED racing it).
      if (refused) ctx.TryCancel();
      reader->Finish();
      return r;
    }
    const grpc::Status status = reader->Finish();
    // With Final in hand the job succeeded, even if the transport broke right after it.
    if (status.ok() || r.final) {
      if (!r.final) {
        r.error_code = static_cast<int>(grpc::StatusCode::UNKNOWN);
        r.error_message = "the stream ended without a Final event";
      }
      return r;
    }
    // Only a transport-level break is worth resuming, and only once there is a job to resume.
    const bool resumable = status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                           !r.job_id.empty() && !r.final && failures < options.max_reattach;
    if (!resumable) {
      r.error_code = static_cast<int>(status.error_code());
      r.error_message = status.error_message();
      return r;
    }
    ++failures;
    ++r.reattached;
    if (hooks.on_reattach) hooks.on_reattach(failures, next_index, status);
    const double backoff = std::min(options.first_backoff_s * (1 << (failures - 1)), 4.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
  }
}

}  // namespace ovidctl
