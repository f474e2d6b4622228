// File: server/generation_service.cc
#include "server/generation_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/request_convert.h"
#include "server/status_util.h"

namespace ovid::server {
namespace {

const absl::Status& LoadingError() {
  static const absl::Status* status = new absl::Status(
      absl::UnavailableError("the model is still loading; retry when the server reports ready"));
  return *status;
}

}  // namespace

GenerationService::GenerationService(JobStore& store, BearerAuth auth, JobObserver* observer,
                                     RpcListener on_rpc, StreamWatchdog* watchdog)
    : store_(store),
      auth_(std::move(auth)),
      observer_(observer),
      on_rpc_(std::move(on_rpc)),
      watchdog_(watchdog) {}

void GenerationService::Attach(JobQueue* queue, std::function<v1::ModelInfo()> model_info) {
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    model_info_ = std::move(model_info);
  }
  queue_.store(queue, std::memory_order_release);
}

absl::StatusOr<Caller> GenerationService::Authenticate(const char* method,
                                                       grpc::CallbackServerContext& context) const {
  absl::StatusOr<Caller> caller = auth_.Identify(context);
  if (!caller.ok()) NotifyAuthRefused(method, caller.status(), context.peer());
  return caller;
}

void GenerationService::NotifyAuthRefused(std::string_view method, const absl::Status& status,
                                          std::string_view peer) const {
  if (observer_ == nullptr) return;
  // A refused Generate is a rejected request (no job); other methods are refused calls.
  if (method == "Generate") {
    observer_->OnRejected(status, peer);
  } else {
    observer_->OnAuthRefused(method, status, peer);
  }
}

void GenerationService::RefusedAtHeaders(std::string_view method, const absl::Status& status,
                                         std::string_view peer) const {
  NotifyAuthRefused(method, status, peer);
  if (on_rpc_) on_rpc_(method, status.code());
}

absl::StatusOr<std::shared_ptr<Job>> GenerationService::VisibleJob(const Caller& caller,
                                                                   std::string_view id) {
  absl::StatusOr<std::shared_ptr<Job>> job = store_.Get(id);
  // Another tenant's job is answered as one that does not exist: its id tells nothing.
  if (job.ok() && !caller.Sees((*job)->tenant())) return UnknownJobError(id);
  return job;
}

grpc::ServerUnaryReactor* GenerationService::Reply(const char* method,
                                                   grpc::CallbackServerContext* context,
                                                   const absl::Status& status) const {
  if (on_rpc_) on_rpc_(method, status.code());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

EventStream::DoneCallback GenerationService::StreamDone(const char* method) const {
  if (!on_rpc_) return nullptr;
  RpcListener listener = on_rpc_;
  return [listener, method](const grpc::Status& status) {
    listener(method, static_cast<absl::StatusCode>(status.error_code()));
  };
}

grpc::ServerWriteReactor<v1::GenerateEvent>* GenerationService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  // Refusals before a job exists; JobQueue::Submit reports its own to the observer.
  auto refuse = [&](const absl::Status& status) {
    if (observer_ != nullptr) observer_->OnRejected(status, context->peer());
    return EventStream::Refuse(ToGrpcStatus(status), StreamDone("Generate"));
  };
  absl::StatusOr<Caller> caller = auth_.Identify(*context);
  if (!caller.ok()) return refuse(caller.status());
  JobQueue* jobs = queue();
  if (jobs == nullptr) return refuse(LoadingError());
  absl::StatusOr<GenerationRequest> converted = ToGenerationRequest(*request);
  if (!converted.ok()) return refuse(converted.status());
  absl::StatusOr<JobSchedule> schedule = ToJobSchedule(*request);
  if (!schedule.ok()) return refuse(schedule.status());
  schedule->tenant = caller->tenant;
  // The call's deadline goes with the job, so it holds after the stream is gone (a client with
  // keep_on_disconnect that went away); the queue's timer enforces it.
  if (const auto deadline = context->deadline();
      deadline != std::chrono::system_clock::time_point::max()) {
    schedule->call_time_left = absl::FromChrono(deadline - std::chrono::system_clock::now());
  }
  absl::StatusOr<std::shared_ptr<Job>> job =
      jobs->Submit(*std::move(converted), request->client_request_id(), *schedule, context->peer());
  if (!job.ok()) return EventStream::Refuse(ToGrpcStatus(job.status()), StreamDone("Generate"));
  const auto ownership = request->keep_on_disconnect()
                             ? EventStream::Ownership::kLeaveJob
                             : EventStream::Ownership::kCancelJobOnDisconnect;
  return EventStream::Follow(context, *std::move(job), 0, jobs, ownership, StreamDone("Generate"),
                             watchdog_);
}

grpc::ServerWriteReactor<v1::GenerateEvent>* GenerationService::WatchJob(
    grpc::CallbackServerContext* context, const v1::JobRef* ref) {
  absl::StatusOr<Caller> caller = Authenticate("WatchJob", *context);
  if (!caller.ok()) {
    return EventStream::Refuse(ToGrpcStatus(caller.status()), StreamDone("WatchJob"));
  }
  absl::StatusOr<std::shared_ptr<Job>> job = VisibleJob(*caller, ref->job_id());
  if (!job.ok()) return EventStream::Refuse(ToGrpcStatus(job.status()), StreamDone("WatchJob"));
  // Past the end of the log the stream would wait for events that never come (a finished job
  // logs nothing more), so that is refused rather than left hanging.
  const auto [logged, finished] = (*job)->log_end();
  if (ref->from_event() > logged || (finished && ref->from_event() == logged)) {
    return EventStream::Refuse(ToGrpcStatus(absl::OutOfRangeError(absl::StrCat(
                                   "from_event: ", ref->from_event(), " is past the end of job ",
                                   JobIdForMessage(ref->job_id()), "'s log (", logged, " events",
                                   finished ? ", finished" : " so far", ")"))),
                               StreamDone("WatchJob"));
  }
  return EventStream::Follow(context, *std::move(job), ref->from_event(), queue(),
                             EventStream::Ownership::kLeaveJob, StreamDone("WatchJob"), watchdog_);
}

grpc::ServerUnaryReactor* GenerationService::GetJob(grpc::CallbackServerContext* context,
                                                    const v1::JobRef* ref,
                                                    v1::JobStatus* response) {
  absl::StatusOr<Caller> caller = Authenticate("GetJob", *context);
  if (!caller.ok()) return Reply("GetJob", context, caller.status());
  JobQueue* jobs = queue();
  if (jobs == nullptr) return Reply("GetJob", context, UnknownJobError(ref->job_id()));
  if (absl::Status seen = VisibleJob(*caller, ref->job_id()).status(); !seen.ok()) {
    return Reply("GetJob", context, seen);
  }
  absl::StatusOr<v1::JobStatus> status = jobs->GetStatus(ref->job_id());
  if (status.ok()) *response = *std::move(status);
  return Reply("GetJob", context, status.status());
}

grpc::ServerUnaryReactor* GenerationService::CancelJob(grpc::CallbackServerContext* context,
                                                       const v1::JobRef* ref,
                                                       v1::JobStatus* response) {
  absl::StatusOr<Caller> caller = Authenticate("CancelJob", *context);
  if (!caller.ok()) return Reply("CancelJob", context, caller.status());
  JobQueue* jobs = queue();
  if (jobs == nullptr) return Reply("CancelJob", context, UnknownJobError(ref->job_id()));
  if (absl::Status seen = VisibleJob(*caller, ref->job_id()).status(); !seen.ok()) {
    return Reply("CancelJob", context, seen);
  }
  absl::StatusOr<v1::JobStatus> status =
      jobs->Cancel(ref->job_id(), CancelReason::kCancelled, "cancelled by CancelJob");
  if (status.ok()) *response = *std::move(status);
  return Reply("CancelJob", context, status.status());
}

grpc::ServerUnaryReactor* GenerationService::ListJobs(grpc::CallbackServerContext* context,
                                                      const v1::ListJobsRequest* request,
                                                      v1::ListJobsResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate("ListJobs", *context);
  if (!caller.ok()) return Reply("ListJobs", context, caller.status());
  std::vector<v1::JobState> states;
  for (int i = 0; i < request->states_size(); ++i) {
    const int state = request->states(i);
    if (!v1::JobState_IsValid(state) || state == v1::JOB_STATE_UNSPECIFIED) {
      return Reply("ListJobs", context,
                   absl::InvalidArgumentError(absl::StrCat("states[", i, "]: ", state,
                                                           " is not a job state (QUEUED, RUNNING, ",
                                                           "SUCCEEDED, FAILED or CANCELLED)")));
    }
    states.push_back(static_cast<v1::JobState>(state));
  }
  // The page token is the creation number the previous page ended at, sealed (opaque_ids.h).
  uint64_t after = 0;
  if (!request->page_token().empty()) {
    absl::StatusOr<uint64_t> opened = page_tokens_.Open(request->page_token());
    if (!opened.ok()) return Reply("ListJobs", context, opened.status());
    after = *opened;
  }
  constexpr uint32_t kMaxPageSize = 1000;
  const uint32_t page_size =
      request->page_size() == 0 ? kMaxPageSize : std::min(request->page_size(), kMaxPageSize);
  uint64_t next = 0;
  JobQueue* jobs = queue();
  const std::vector<std::shared_ptr<Job>> listed =
      store_.ListPage(states, after, page_size, &next, caller->tenant);
  if (next != 0) {
    absl::StatusOr<std::string> token = page_tokens_.Seal(next);
    if (!token.ok()) return Reply("ListJobs", context, token.status());
    response->set_next_page_token(*std::move(token));
  }
  if (jobs != nullptr) {
    // The queue knows the positions.
    for (v1::JobStatus& status : jobs->Statuses(listed)) *response->add_jobs() = std::move(status);
  } else {
    for (const std::shared_ptr<Job>& job : listed) *response->add_jobs() = job->Status();
  }
  return Reply("ListJobs", context, absl::OkStatus());
}

grpc::ServerUnaryReactor* GenerationService::GetModel(grpc::CallbackServerContext* context,
                                                      const v1::GetModelRequest* /*request*/,
                                                      v1::ModelInfo* response) {
  if (absl::Status status = Authenticate("GetModel", *context).status(); !status.ok())
    return Reply("GetModel", context, status);
  std::function<v1::ModelInfo()> model_info;
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    model_info = model_info_;
  }
  if (!model_info) return Reply("GetModel", context, LoadingError());
  *response = model_info();
  return Reply("GetModel", context, absl::OkStatus());
}

}  // namespace ovid::server
