// File: tools/ovidctl/info_cmds.cc
// The small commands: `jobs` (a table, or JSON), `job ID` (one job), `cancel ID` and
// `health [--service NAME]`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "health.grpc.pb.h"
#include "ovid/v1/generation.grpc.pb.h"
#include "tools/ovidctl/commands.h"
#include "tools/ovidctl/connection.h"
#include "tools/ovidctl/format.h"

namespace ovidctl {
namespace {

Args ParseNoPositional(const std::vector<std::string>& argv, const std::vector<FlagSpec>& extra,
                       const char* command) {
  Args args = Args::Parse(argv, WithGlobalFlags(extra));
  if (!args.positional().empty()) {
    throw UsageError(
        absl::StrCat(command, " takes no arguments, got '", args.positional()[0], "'"));
  }
  return args;
}

ovid::v1::JobState ParseState(const std::string& text) {
  ovid::v1::JobState state;
  if (!ovid::v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(text), &state) ||
      state == ovid::v1::JOB_STATE_UNSPECIFIED) {
    throw UsageError(absl::StrCat("--state: '", text,
                                  "' is not one of queued, running, succeeded, failed, cancelled"));
  }
  return state;
}

// What the PROGRESS column says: the stage and step while running, the error when failed.
std::string ProgressText(const ovid::v1::JobStatus& j) {
  if (j.state() == ovid::v1::JOB_STATE_QUEUED) return absl::StrCat("queue #", j.queue_position());
  if (j.has_error() && j.error().code() != 0) return StatusCodeName(j.error().code());
  if (!j.has_progress() || j.progress().stage().empty()) return "-";
  return absl::StrCat(j.progress().stage(), " ", j.progress().step(), "/", j.progress().total());
}

}  // namespace

int RunJobs(const std::vector<std::string>& argv) {
  const Args args = ParseNoPositional(argv, {{"state", true, true}, {"json", false}}, "jobs");
  ovid::v1::ListJobsRequest req;
  for (const std::string& s : args.All("state")) req.add_states(ParseState(s));
  const Connection conn(ConnectionOptionsFrom(args));
  auto stub = ovid::v1::Generation::NewStub(conn.channel());
  // Every page (the server sends at most 1000 jobs per response).
  ovid::v1::ListJobsResponse resp;
  do {
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    ovid::v1::ListJobsResponse page;
    const grpc::Status st = stub->ListJobs(&ctx, req, &page);
    if (!st.ok()) return ReportFailure("jobs", st.error_code(), st.error_message());
    for (auto& j : *page.mutable_jobs()) *resp.add_jobs() = std::move(j);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  if (args.Has("json")) {  // every page's jobs in one ListJobsResponse
    if (!PrintJson(resp)) return ReportFailure("jobs", 13, "cannot print the reply as JSON");
    return 0;
  }

  // The tenant column only where some job has one (token files with tenants).
  const bool tenants = std::any_of(resp.jobs().begin(), resp.jobs().end(),
                                   [](const auto& j) { return !j.tenant().empty(); });
  std::vector<std::vector<std::string>> rows = {{"ID", "STATE", "PRIORITY", "PROGRESS", "CREATED"}};
  if (tenants) rows[0].insert(rows[0].begin() + 2, "TENANT");
  for (const auto& j : resp.jobs()) {
    rows.push_back({j.job_id(), JobStateName(j.state()), absl::StrCat(j.priority()),
                    ProgressText(j), TimestampText(j.created())});
    if (tenants) rows.back().insert(rows.back().begin() + 2, j.tenant().empty() ? "-" : j.tenant());
  }
  const size_t columns = rows[0].size();
  std::vector<size_t> width(columns, 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < columns; ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c + 1 < columns; ++c) {
      absl::StrAppend(&line, row[c], std::string(width[c] - row[c].size() + 2, ' '));
    }
    std::printf("%s%s\n", line.c_str(), row[columns - 1].c_str());
  }
  return 0;
}

int RunJob(const std::vector<std::string>& argv) {
  const Args args = Args::Parse(argv, WithGlobalFlags({{"json", false}}));
  if (args.positional().size() != 1) throw UsageError("usage: ovidctl job JOB_ID [--json]");
  const Connection conn(ConnectionOptionsFrom(args));
  auto stub = ovid::v1::Generation::NewStub(conn.channel());
  ovid::v1::JobRef ref;
  ref.set_job_id(RequireUtf8(args.positional()[0], "the job id"));
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  ovid::v1::JobStatus j;
  const grpc::Status st = stub->GetJob(&ctx, ref, &j);
  if (!st.ok()) return ReportFailure("job " + ref.job_id(), st.error_code(), st.error_message());
  if (args.Has("json")) {
    if (!PrintJson(j)) return ReportFailure("job", 13, "cannot print the reply as JSON");
    return 0;
  }
  std::printf("job %s: %s\n", j.job_id().c_str(), JobStateName(j.state()).c_str());
  if (!j.client_request_id().empty()) {
    std::printf("  client request id: %s\n", j.client_request_id().c_str());
  }
  if (!j.tenant().empty()) std::printf("  tenant: %s\n", j.tenant().c_str());
  std::printf("  priority: %d\n", j.priority());
  std::printf("  created: %s\n", TimestampText(j.created()).c_str());
  std::printf("  started: %s\n", TimestampText(j.started()).c_str());
  std::printf("  finished: %s\n", TimestampText(j.finished()).c_str());
  if (j.state() == ovid::v1::JOB_STATE_QUEUED) {
    std::printf("  queue position: %u\n", j.queue_position());
  }
  if (j.has_progress() && !j.progress().stage().empty()) {
    const auto& p = j.progress();
    std::printf("  progress: %s %u/%u, %s elapsed", p.stage().c_str(), p.step(), p.total(),
                Clock(p.elapsed_seconds()).c_str());
    if (p.remaining_seconds() > 0)
      std::printf(", about %s left", Clock(p.remaining_seconds()).c_str());
    std::printf("\n");
  }
  if (j.has_error() && j.error().code() != 0) {
    std::printf("  error: %s: %s\n", StatusCodeName(j.error().code()).c_str(),
                j.error().message().c_str());
  }
  std::printf("  events: %llu\n", static_cast<unsigned long long>(j.event_count()));
  return 0;
}

bool Ended(ovid::v1::JobState state) {
  return state == ovid::v1::JOB_STATE_SUCCEEDED || state == ovid::v1::JOB_STATE_FAILED ||
         state == ovid::v1::JOB_STATE_CANCELLED;
}

int RunCancel(const std::vector<std::string>& argv) {
  const Args args = Args::Parse(argv, WithGlobalFlags({{"wait"}}));
  if (args.positional().size() != 1) throw UsageError("usage: ovidctl cancel JOB_ID [--wait S]");
  const double wait = args.GetDouble("wait").value_or(60.0);
  if (!(wait >= 0 && wait <= 86400)) throw UsageError("--wait: seconds in [0, 86400]");
  const Connection conn(ConnectionOptionsFrom(args));
  auto stub = ovid::v1::Generation::NewStub(conn.channel());
  ovid::v1::JobRef ref;
  ref.set_job_id(RequireUtf8(args.positional()[0], "the job id"));
  ovid::v1::JobStatus status;
  {
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status st = stub->CancelJob(&ctx, ref, &status);
    if (!st.ok())
      return ReportFailure("cancel " + ref.job_id(), st.error_code(), st.error_message());
  }
  // The server answers at once; a running job stops at its next step check after that, so the
  // answer may still say RUNNING. Follow it to its end (cancelled, or whatever it ended as if
  // it finished first), for at most --wait seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait);
  while (!Ended(status.state()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    ovid::v1::JobStatus now;
    const grpc::Status st = stub->GetJob(&ctx, ref, &now);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      // Ended and dropped at once (--job-ttl=0): its final state is no longer kept.
      std::printf("%s ended (the server keeps no record of it)\n", ref.job_id().c_str());
      return 0;
    }
    if (!st.ok()) {
      return ReportFailure("cancel " + ref.job_id() + " was requested, but following the job",
                           st.error_code(), st.error_message());
    }
    status = std::move(now);
  }
  std::printf("%s %s\n", status.job_id().c_str(), JobStateName(status.state()).c_str());
  if (!Ended(status.state()) && wait > 0) {
    std::fprintf(stderr, "cancel %s: requested, but the job had not stopped after %g s\n",
                 ref.job_id().c_str(), wait);
    return 1;
  }
  return 0;
}

int RunHealth(const std::vector<std::string>& argv) {
  const Args args = ParseNoPositional(argv, {{"service"}}, "health");
  const Connection conn(ConnectionOptionsFrom(args));
  auto stub = grpc::health::v1::Health::NewStub(conn.channel());
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(args.Get("service").value_or(""));
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status st = stub->Check(&ctx, req, &resp);
  const std::string name = req.service().empty() ? "(server)" : req.service();
  if (!st.ok()) return ReportFailure("health " + name, st.error_code(), st.error_message());
  std::printf("%s %s\n", name.c_str(),
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  // Non-zero unless SERVING, so scripts and probes can use the exit code alone.
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace ovidctl
