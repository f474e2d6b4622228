// File: server/generation_service.h
// ovid.v1.Generation over the job runtime: thin handlers that check the caller, convert the
// request, and hand over to JobQueue / JobStore; streams are EventStream reactors. Nothing here
// waits: every handler returns after short locks, and model work happens on the workers.
//
// The service exists before the model is loaded (health answers while loading); until Attach,
// Generate and GetModel answer UNAVAILABLE.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "ovid/v1/generation.grpc.pb.h"
#include "server/auth.h"
#include "server/event_stream.h"
#include "server/job_observer.h"
#include "server/job_queue.h"
#include "server/job_store.h"
#include "server/opaque_ids.h"

namespace ovid::server {

class GenerationService final : public v1::Generation::CallbackService {
 public:
  // Told every finished call: its method ("Generate", ...) and final status code.
  using RpcListener = std::function<void(std::string_view method, absl::StatusCode code)>;

  // `store`, `observer` (may be null) and `watchdog` (may be null: streams whose client stops
  // reading stay open) must outlive the service and its calls.
  GenerationService(JobStore& store, BearerAuth auth, JobObserver* observer,
                    RpcListener on_rpc = nullptr, StreamWatchdog* watchdog = nullptr);

  // The model is loaded: jobs go to `queue` (which must outlive the service) and GetModel
  // answers with what `model_info` returns (called per request; must be thread-safe).
  void Attach(JobQueue* queue, std::function<v1::ModelInfo()> model_info);

  // A call of `method` ("GetModel", ...) refused before any handler ran (the token check at the
  // headers, AuthAtHeaders): told to the observer and counted as the handlers' own refusals.
  void RefusedAtHeaders(std::string_view method, const absl::Status& status,
                        std::string_view peer) const;

  grpc::ServerWriteReactor<v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerWriteReactor<v1::GenerateEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                        const v1::JobRef* ref) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context, const v1::JobRef* ref,
                                   v1::JobStatus* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context, const v1::JobRef* ref,
                                      v1::JobStatus* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::ModelInfo* response) override;

 private:
  JobQueue* queue() const { return queue_.load(std::memory_order_acquire); }
  // Ends a unary call of `method` with `status` (OK or not) and returns its reactor.
  grpc::ServerUnaryReactor* Reply(const char* method, grpc::CallbackServerContext* context,
                                  const absl::Status& status) const;
  // auth_.Identify for a method other than Generate; a refusal goes to the observer
  // (OnAuthRefused) with the method and the client's address, so the log shows who was refused.
  absl::StatusOr<Caller> Authenticate(const char* method,
                                      grpc::CallbackServerContext& context) const;
  // The observer's report of an authentication refusal: OnRejected for Generate, OnAuthRefused
  // for the other methods.
  void NotifyAuthRefused(std::string_view method, const absl::Status& status,
                         std::string_view peer) const;
  // The job `id` if `caller` may see it; UnknownJobError otherwise, as for an unknown id.
  absl::StatusOr<std::shared_ptr<Job>> VisibleJob(const Caller& caller, std::string_view id);
  // The end-of-call report for a stream of `method`.
  EventStream::DoneCallback StreamDone(const char* method) const;

  JobStore& store_;
  const BearerAuth auth_;
  JobObserver* const observer_;
  const RpcListener on_rpc_;
  StreamWatchdog* const watchdog_;
  const PageTokenSeal page_tokens_;  // ListJobs' page tokens, sealed per daemon run
  std::atomic<JobQueue*> queue_{nullptr};
  std::mutex model_mu_;
  std::function<v1::ModelInfo()> model_info_;
};

}  // namespace ovid::server
