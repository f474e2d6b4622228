// File: server/job_log.cc
#include "server/job_log.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/metrics_reasons.h"

namespace ovid::server {
namespace {

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.3f", absl::ToDoubleSeconds(d)); }

// As the metrics count it (FinishOutcome).
std::string OutcomeLabel(const Job& job, const absl::Status& status) {
  return std::string(OutcomeName(FinishOutcome(status, job.state() == v1::JOB_STATE_CANCELLED)));
}

}  // namespace

JobLog::~JobLog() {
  auto say_left_out = [this](const LogWindow& window, const char* kind) {
    if (window.pending() == 0) return;
    logger_.Info("requests refused and not logged",
                 {{"refusals", kind}, {"not_logged", absl::StrCat(window.pending())}});
  };
  say_left_out(credentials_, "credentials");
  say_left_out(requests_, "request");
}

LogWindow& JobLog::WindowFor(const absl::Status& status) {
  return absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status) ? credentials_
                                                                             : requests_;
}

void JobLog::OnRejected(const absl::Status& status, std::string_view peer) {
  LogFields fields = {{"code", absl::StatusCodeToString(status.code())},
                      {"error", std::string(status.message())}};
  if (!peer.empty()) fields.emplace_back("peer", std::string(peer));
  LogRefusal(WindowFor(status), std::move(fields));
}

void JobLog::OnAuthRefused(std::string_view method, const absl::Status& status,
                           std::string_view peer) {
  LogFields fields = {{"method", std::string(method)},
                      {"code", absl::StatusCodeToString(status.code())},
                      {"error", std::string(status.message())}};
  if (!peer.empty()) fields.emplace_back("peer", std::string(peer));
  LogRefusal(WindowFor(status), std::move(fields));
}

void JobLog::LogRefusal(LogWindow& window, LogFields fields) {
  {
    const std::lock_guard<std::mutex> lock(refusals_mu_);
    if (!window.Admit(now_(), fields)) return;
  }
  logger_.Info("request refused", fields);
}

void JobLog::OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                        absl::Duration total) {
  LogFields fields = {{"job", job.id()}};
  if (!job.client_request_id().empty())
    fields.emplace_back("client_request_id", job.client_request_id());
  if (!job.tenant().empty()) fields.emplace_back("tenant", job.tenant());
  if (job.priority() != 0) fields.emplace_back("priority", absl::StrCat(job.priority()));
  fields.emplace_back("outcome", OutcomeLabel(job, status));
  fields.emplace_back("code", absl::StatusCodeToString(status.code()));
  if (job.started() != absl::InfinitePast()) {
    fields.emplace_back("queue_s", Seconds(job.queue_wait()));
    if (job.finished()) fields.emplace_back("run_s", Seconds(job.run_time()));
  }
  fields.emplace_back("total_s", Seconds(total));
  if (result != nullptr) {
    fields.emplace_back("seed", absl::StrCat(result->seed));
    fields.emplace_back("steps", absl::StrCat(result->parameters.steps));
    fields.emplace_back("size",
                        absl::StrCat(result->parameters.width, "x", result->parameters.height));
    fields.emplace_back("guidance", result->parameters.guidance_batched ? "batched" : "apart");
    fields.emplace_back("peak_vram_bytes", absl::StrCat(result->peak_vram_bytes));
  }
  if (!status.ok()) fields.emplace_back("error", std::string(status.message()));
  if (status.ok() || absl::IsCancelled(status) || absl::IsDeadlineExceeded(status)) {
    logger_.Info("job finished", fields);
  } else {
    logger_.Warn("job finished", fields);
  }
}

void ObserverList::OnRejected(const absl::Status& status, std::string_view peer) {
  for (JobObserver* o : observers_) o->OnRejected(status, peer);
}
void ObserverList::OnAuthRefused(std::string_view method, const absl::Status& status,
                                 std::string_view peer) {
  for (JobObserver* o : observers_) o->OnAuthRefused(method, status, peer);
}
void ObserverList::OnQueued(const Job& job) {
  for (JobObserver* o : observers_) o->OnQueued(job);
}
void ObserverList::OnStarted(const Job& job, absl::Duration queue_wait) {
  for (JobObserver* o : observers_) o->OnStarted(job, queue_wait);
}
void ObserverList::OnProgress(const Job& job, const Progress& progress) {
  for (JobObserver* o : observers_) o->OnProgress(job, progress);
}
void ObserverList::OnFinished(const Job& job, const absl::Status& status,
                              const GenerationResult* result, absl::Duration total) {
  for (JobObserver* o : observers_) o->OnFinished(job, status, result, total);
}

}  // namespace ovid::server
