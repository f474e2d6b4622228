// File: tests/server/service_test.cc
// ovid.v1.Generation through a real gRPC server on a local port, with the fake Pipeline: stream
// order, re-attach, ownership of the job by its stream, deadlines, authentication, admission.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "server/generation_service.h"
#include "tests/server/fake_pipeline.h"

namespace ovid::server {
namespace {

using testing::FakePipeline;
using testing::FakePipelineOptions;

struct Harness {
  explicit Harness(FakePipelineOptions fake, JobQueueOptions queue_options = {},
                   BearerAuth auth = {}, bool attach = true,
                   absl::Duration stall_limit = absl::ZeroDuration())
      : watchdog(stall_limit > absl::ZeroDuration() ? std::make_unique<StreamWatchdog>(stall_limit)
                                                    : nullptr),
        pipeline(std::move(fake)),
        store(absl::Minutes(5), 100),
        queue(pipeline, store, queue_options),
        service(
            store, std::move(auth), nullptr,
            [this](std::string_view method, absl::StatusCode code) {
              const std::lock_guard<std::mutex> lock(rpcs_mu);
              rpcs.emplace_back(std::string(method), code);
            },
            watchdog.get()) {
    if (attach) Attach();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    // No BDP probing: the window stays small, so a client that stops reading stalls the
    // server's writes within a few MB (with it the transport would take tens of MB).
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                        grpc::InsecureChannelCredentials(), args);
    stub = v1::Generation::NewStub(channel);
  }
  ~Harness() {
    pipeline.Release();
    queue.Drain(absl::Seconds(5));
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  void Attach() {
    service.Attach(&queue, [] {
      v1::ModelInfo info;
      info.set_dequant_mode("lazy");
      return info;
    });
  }

  std::unique_ptr<StreamWatchdog> watchdog;  // first: outlives the server's calls
  FakePipeline pipeline;
  JobStore store;
  JobQueue queue;
  std::mutex rpcs_mu;
  std::vector<std::pair<std::string, absl::StatusCode>> rpcs;  // what the metrics are told
  GenerationService service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Generation::Stub> stub;
};

struct StreamResult {
  std::vector<v1::GenerateEvent> events;
  grpc::Status status;
};

template <typename Reader>
StreamResult Drain(Reader& reader) {
  StreamResult result;
  v1::GenerateEvent event;
  while (reader->Read(&event)) result.events.push_back(event);
  result.status = reader->Finish();
  return result;
}

v1::GenerateRequest Request(uint32_t steps = 3) {
  v1::GenerateRequest request;
  request.mutable_conditioning()->mutable_embedding()->set_tokens(1);
  request.set_steps(steps);
  return request;
}

StreamResult Generate(Harness& h, const v1::GenerateRequest& request,
                      grpc::ClientContext* context = nullptr) {
  grpc::ClientContext own;
  auto reader = h.stub->Generate(context != nullptr ? context : &own, request);
  return Drain(reader);
}

bool WaitForState(Harness& h, const std::string& id, v1::JobState state) {
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<v1::JobStatus> status = h.queue.GetStatus(id);
    if (status.ok() && status->state() == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ServiceTest, GenerateStreamsAcceptedProgressChunksFinalInOrder) {
  Harness h({.steps = 3, .output = std::string(2500000, 'z')});
  v1::GenerateRequest request = Request(3);
  request.set_client_request_id("abc");
  request.set_seed(99);
  StreamResult r = Generate(h, request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  // accepted, 3 progress, 3 chunks of a 2.5 MB output, final
  ASSERT_EQ(r.events.size(), 8u);
  EXPECT_TRUE(r.events[0].has_accepted());
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(r.events[i].progress().step(), static_cast<uint32_t>(i));
  std::string data;
  for (int i = 4; i <= 6; ++i) {
    ASSERT_TRUE(r.events[i].has_chunk());
    EXPECT_EQ(r.events[i].chunk().offset(), data.size());
    EXPECT_LE(r.events[i].chunk().data().size(), 1u << 20);
    data += r.events[i].chunk().data();
  }
  EXPECT_TRUE(r.events[6].chunk().last());
  EXPECT_EQ(data, std::string(2500000, 'z'));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  EXPECT_EQ(r.events[6].chunk().sha256(),
            std::string(reinterpret_cast<const char*>(digest), sizeof digest));
  ASSERT_TRUE(r.events[7].has_final());
  EXPECT_EQ(r.events[7].final().seed(), 99u);
  for (size_t i = 0; i < r.events.size(); ++i) {
    EXPECT_EQ(r.events[i].index(), i);
    EXPECT_EQ(r.events[i].client_request_id(), "abc");
    EXPECT_EQ(r.events[i].job_id(), r.events[0].job_id());
  }
}

TEST(ServiceTest, WatchJobReplaysTheSameEventsFromAnyIndex) {
  Harness h({.steps = 4});
  StreamResult live = Generate(h, Request(4));
  ASSERT_TRUE(live.status.ok());
  const std::string id = live.events[0].job_id();
  for (uint64_t from : {0ull, 3ull, static_cast<unsigned long long>(live.events.size() - 1)}) {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(id);
    ref.set_from_event(from);
    auto reader = h.stub->WatchJob(&context, ref);
    StreamResult replay = Drain(reader);
    ASSERT_TRUE(replay.status.ok()) << replay.status.error_message();
    ASSERT_EQ(replay.events.size(), live.events.size() - from);
    for (size_t i = 0; i < replay.events.size(); ++i) {
      EXPECT_EQ(replay.events[i].SerializeAsString(), live.events[from + i].SerializeAsString());
    }
  }
}

TEST(ServiceTest, WatchJobRefusesUnknownJobsAndIndexesPastTheEnd) {
  Harness h({.steps = 1});
  StreamResult live = Generate(h, Request(1));
  ASSERT_TRUE(live.status.ok());
  {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id("job-nope");
    auto reader = h.stub->WatchJob(&context, ref);
    StreamResult r = Drain(reader);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(r.status.error_message().find("job-nope"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(live.events[0].job_id());
    ref.set_from_event(live.events.size());
    auto reader = h.stub->WatchJob(&context, ref);
    StreamResult r = Drain(reader);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_NE(r.status.error_message().find("from_event"), std::string::npos);
  }
}

// Ids come from clients: a 20,000-byte one echoed whole overflowed gRPC's metadata limit, so the
// client saw RESOURCE_EXHAUSTED about headers instead of NOT_FOUND.
TEST(ServiceTest, AHugeUnknownJobIdIsNotFoundWithAShortMessage) {
  Harness h({.steps = 1});
  v1::JobRef ref;
  ref.set_job_id(std::string(20000, 'x'));
  {
    grpc::ClientContext context;
    auto reader = h.stub->WatchJob(&context, ref);
    StreamResult r = Drain(reader);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND) << r.status.error_message();
    EXPECT_LT(r.status.error_message().size(), 200u);
    EXPECT_NE(r.status.error_message().find("20000 bytes"), std::string::npos);
  }
  for (const bool cancel : {false, true}) {
    grpc::ClientContext context;
    v1::JobStatus status;
    const grpc::Status s =
        cancel ? h.stub->CancelJob(&context, ref, &status) : h.stub->GetJob(&context, ref, &status);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_LT(s.error_message().size(), 200u);
  }
}

// ListJobs pages: one response could hold only about 12,000-40,000 jobs within gRPC's 4 MiB, and
// a daemon may keep 100,000 (RESOURCE_EXHAUSTED at the client). Pages of page_size (at most
// 1000) follow creation order; a token that is not one of ours is INVALID_ARGUMENT.
TEST(ServiceTest, ListJobsPagesThroughEveryJobOnce) {
  Harness h({.steps = 1});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    StreamResult r = Generate(h, Request(1));
    ASSERT_TRUE(r.status.ok());
    ids.push_back(r.events[0].job_id());
  }
  std::vector<std::string> seen;
  std::string first_token;
  v1::ListJobsRequest request;
  request.set_page_size(2);
  int pages = 0;
  do {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    ASSERT_TRUE(h.stub->ListJobs(&context, request, &response).ok());
    EXPECT_LE(response.jobs_size(), 2);
    for (const v1::JobStatus& j : response.jobs()) seen.push_back(j.job_id());
    request.set_page_token(response.next_page_token());
    if (pages == 0) first_token = response.next_page_token();
    ASSERT_LT(++pages, 10);
  } while (!request.page_token().empty());
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(pages, 3);
  // 0 and oversized page sizes mean 1000: all five at once.
  request.set_page_size(0);
  for (const uint32_t size : {0u, 1000000u}) {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    request.set_page_size(size);
    ASSERT_TRUE(h.stub->ListJobs(&context, request, &response).ok());
    EXPECT_EQ(response.jobs_size(), 5);
    EXPECT_TRUE(response.next_page_token().empty());
  }
  // The tokens are sealed (opaque_ids.h): a plain creation number would tell every caller how
  // many jobs the daemon has made. Only what this server handed out is taken back.
  EXPECT_EQ(first_token.size(), 32u);
  for (const std::string& token : {std::string("not-a-token"), std::string("2"), std::string("+1"),
                                   std::string(" 1"), first_token.substr(1), first_token + "0"}) {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    request.set_page_token(token);
    const grpc::Status bad = h.stub->ListJobs(&context, request, &response);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_NE(bad.error_message().find("page_token"), std::string::npos) << token;
  }
}

// A state filter that is no job state was answered with an empty list, as if nothing matched.
TEST(ServiceTest, ListJobsRefusesStatesThatAreNoJobState) {
  Harness h({.steps = 1});
  for (const int state : {99, static_cast<int>(v1::JOB_STATE_UNSPECIFIED)}) {
    grpc::ClientContext context;
    v1::ListJobsRequest request;
    request.add_states(v1::JOB_STATE_RUNNING);
    request.add_states(static_cast<v1::JobState>(state));
    v1::ListJobsResponse response;
    const grpc::Status s = h.stub->ListJobs(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << state;
    EXPECT_NE(s.error_message().find("states[1]"), std::string::npos) << s.error_message();
  }
}

TEST(ServiceTest, AClientThatCancelsItsStreamCancelsTheJob) {
  Harness h({.steps = 1000, .step_delay = absl::Milliseconds(2)});
  grpc::ClientContext context;
  auto reader = h.stub->Generate(&context, Request(1000));
  v1::GenerateEvent event;
  ASSERT_TRUE(reader->Read(&event));
  const std::string id = event.job_id();
  ASSERT_TRUE(reader->Read(&event));  // some progress: the job runs
  context.TryCancel();
  reader->Finish();
  ASSERT_TRUE(WaitForState(h, id, v1::JOB_STATE_CANCELLED));
  EXPECT_LT(h.pipeline.last_steps_done(), 1000u);
  EXPECT_EQ(h.queue.GetStatus(id)->error().code(), grpc::StatusCode::CANCELLED);
}

// A client that keeps its connection but stops reading would hold its stream, and the outputs
// still to be written, for as long as it likes: past --stream-stall-timeout the call is
// cancelled. A client that reads gets everything with the same limit.
TEST(ServiceTest, AStreamWhoseClientStopsReadingIsCancelledAfterTheStallLimit) {
  Harness h({.output = std::string(size_t{64} << 20, 'x')}, {}, {}, true, absl::Seconds(1));
  StreamResult whole = Generate(h, Request(1));
  ASSERT_TRUE(whole.status.ok()) << whole.status.error_message();
  size_t bytes = 0;
  for (const v1::GenerateEvent& e : whole.events) bytes += e.chunk().data().size();
  EXPECT_EQ(bytes, size_t{64} << 20);

  grpc::ClientContext context;
  auto reader = h.stub->Generate(&context, Request(1));
  v1::GenerateEvent event;
  ASSERT_TRUE(reader->Read(&event));  // Accepted; then nothing more is read
  const auto start = std::chrono::steady_clock::now();
  bool cancelled = false;
  while (!cancelled && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::lock_guard<std::mutex> lock(h.rpcs_mu);
    for (const auto& [method, code] : h.rpcs) {
      cancelled |= method == "Generate" && code == absl::StatusCode::kCancelled;
    }
  }
  EXPECT_TRUE(cancelled) << "the stalled stream was not cancelled";
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST(ServiceTest, KeepOnDisconnectLetsTheJobFinishForWatchJob) {
  Harness h({.steps = 30, .step_delay = absl::Milliseconds(5)});
  v1::GenerateRequest request = Request(30);
  request.set_keep_on_disconnect(true);
  std::string id;
  std::vector<v1::GenerateEvent> before;
  {
    grpc::ClientContext context;
    auto reader = h.stub->Generate(&context, request);
    v1::GenerateEvent event;
    for (int i = 0; i < 3 && reader->Read(&event); ++i) before.push_back(event);
    id = before[0].job_id();
    context.TryCancel();
    reader->Finish();
  }
  grpc::ClientContext context;
  v1::JobRef ref;
  ref.set_job_id(id);
  ref.set_from_event(before.size());
  auto reader = h.stub->WatchJob(&context, ref);
  StreamResult rest = Drain(reader);
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_FALSE(rest.events.empty());
  EXPECT_EQ(rest.events.front().index(), before.size());
  EXPECT_TRUE(rest.events.back().has_final());
  EXPECT_EQ(h.pipeline.last_steps_done(), 30u);
}

TEST(ServiceTest, TheCallDeadlineStopsTheJobWithDeadlineExceeded) {
  Harness h({.steps = 100000, .step_delay = absl::Milliseconds(1)});
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  StreamResult r = Generate(h, Request(100000), &context);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_FALSE(r.events.empty());
  const std::string id = r.events[0].job_id();
  ASSERT_TRUE(WaitForState(h, id, v1::JOB_STATE_CANCELLED));
  EXPECT_EQ(h.queue.GetStatus(id)->error().code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The call is counted as the client saw it end (it was counted CANCELLED).
  const auto counted = [&] {
    const std::lock_guard<std::mutex> lock(h.rpcs_mu);
    return h.rpcs;
  };
  for (int i = 0; i < 200 && counted().empty(); ++i) absl::SleepFor(absl::Milliseconds(10));
  const auto rpcs = counted();
  ASSERT_EQ(rpcs.size(), 1u);
  EXPECT_EQ(rpcs[0].first, "Generate");
  EXPECT_EQ(rpcs[0].second, absl::StatusCode::kDeadlineExceeded);
}

// keep_on_disconnect: the stream's end does not stop the job, but the call's deadline still does,
// exactly then. A cancel 1.2 s before the deadline used to leave the job running for ever; one
// 0.6 s before it killed the job at once as "past its deadline".
TEST(ServiceTest, AKeptJobRunsUntilTheCallDeadlineWhateverItsStreamDoes) {
  Harness h({.steps = 100000, .step_delay = absl::Milliseconds(2)});
  for (const auto cancel_before :
       {std::chrono::milliseconds(1200), std::chrono::milliseconds(600)}) {
    SCOPED_TRACE(cancel_before.count());
    v1::GenerateRequest request = Request(100000);
    request.set_keep_on_disconnect(true);
    grpc::ClientContext context;
    const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(1500);
    context.set_deadline(deadline);
    auto reader = h.stub->Generate(&context, request);
    v1::GenerateEvent event;
    ASSERT_TRUE(reader->Read(&event));
    const std::string id = event.job_id();
    std::this_thread::sleep_until(deadline - cancel_before);
    context.TryCancel();
    reader->Finish();
    // Still running a moment later, well before the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_LT(std::chrono::system_clock::now(), deadline - std::chrono::milliseconds(100));
    EXPECT_EQ(h.queue.GetStatus(id)->state(), v1::JOB_STATE_RUNNING);
    ASSERT_TRUE(WaitForState(h, id, v1::JOB_STATE_CANCELLED));
    EXPECT_GE(std::chrono::system_clock::now(), deadline);
    EXPECT_EQ(h.queue.GetStatus(id)->error().code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

TEST(ServiceTest, AFailedJobEndsTheStreamWithItsStatusAndTheServerGoesOn) {
  Harness h({.steps = 5, .oom_at_step = 2});
  StreamResult r = Generate(h, Request(5));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_FALSE(r.events.empty());
  ASSERT_TRUE(r.events.back().has_error());
  EXPECT_EQ(r.events.back().error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // A request that stops before the faulty step succeeds on the same server.
  StreamResult next = Generate(h, Request(1));
  EXPECT_TRUE(next.status.ok()) << next.status.error_message();
}

TEST(ServiceTest, BearerTokenGuardsEveryMethod) {
  Harness h({.steps = 1}, {}, BearerAuth::WithToken("s3cret"));
  StreamResult none = Generate(h, Request(1));
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(none.events.empty());
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer wrong");
    StreamResult wrong = Generate(h, Request(1), &context);
    EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(wrong.status.error_message().find("s3cret"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer s3cret");
    StreamResult right = Generate(h, Request(1), &context);
    EXPECT_TRUE(right.status.ok()) << right.status.error_message();
  }
  grpc::ClientContext context;
  v1::ListJobsResponse jobs;
  EXPECT_EQ(h.stub->ListJobs(&context, v1::ListJobsRequest(), &jobs).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext model_context;
  v1::ModelInfo info;
  EXPECT_EQ(h.stub->GetModel(&model_context, v1::GetModelRequest(), &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(ServiceTest, WhileLoadingGenerateAndGetModelAreUnavailable) {
  Harness h({.steps = 1}, {}, {}, /*attach=*/false);
  StreamResult r = Generate(h, Request(1));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext context;
  v1::ModelInfo info;
  EXPECT_EQ(h.stub->GetModel(&context, v1::GetModelRequest(), &info).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  h.Attach();
  grpc::ClientContext again;
  ASSERT_TRUE(h.stub->GetModel(&again, v1::GetModelRequest(), &info).ok());
  EXPECT_EQ(info.dequant_mode(), "lazy");
  EXPECT_TRUE(Generate(h, Request(1)).status.ok());
}

TEST(ServiceTest, InvalidRequestsAreRefusedAndNameTheField) {
  Harness h({.steps = 1});
  v1::GenerateRequest request = Request(1);
  request.set_solver(static_cast<v1::Solver>(42));
  StreamResult r = Generate(h, request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(r.status.error_message().find("solver"), std::string::npos);
  EXPECT_TRUE(r.events.empty());
}

TEST(ServiceTest, EightClientsAgainstAQueueOfTwoAreEachAnsweredOnce) {
  Harness h({.steps = 20, .step_delay = absl::Milliseconds(5)},
            {.max_queue = 2, .workers = 1});
  std::vector<StreamResult> results(8);
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] { results[i] = Generate(h, Request(20)); });
  }
  for (auto& c : clients) c.join();
  int ok = 0, exhausted = 0;
  std::set<std::string> ids;
  for (const StreamResult& r : results) {
    if (r.status.ok()) {
      ++ok;
      ASSERT_TRUE(r.events.back().has_final());
      EXPECT_TRUE(ids.insert(r.events[0].job_id()).second);
      int finals = 0;
      for (const auto& e : r.events) finals += e.has_final() || e.has_error();
      EXPECT_EQ(finals, 1);
    } else {
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << r.status.error_message();
      EXPECT_TRUE(r.events.empty());
      ++exhausted;
    }
  }
  EXPECT_EQ(ok + exhausted, 8);
  EXPECT_GE(ok, 1);
  EXPECT_GE(exhausted, 1);
  EXPECT_EQ(h.pipeline.runs_started(), ok);
}

TEST(ServiceTest, CancelJobListJobsAndGetJob) {
  Harness h({.steps = 1, .hold = true}, {.max_queue = 4, .workers = 1});
  v1::GenerateRequest request = Request(1);
  request.set_keep_on_disconnect(true);
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    auto reader = h.stub->Generate(&context, request);
    v1::GenerateEvent event;
    ASSERT_TRUE(reader->Read(&event));
    ids.push_back(event.job_id());
    context.TryCancel();
    reader->Finish();
  }
  ASSERT_TRUE(h.pipeline.WaitForRunsStarted(1, absl::Seconds(5)));
  {
    grpc::ClientContext context;
    v1::ListJobsRequest list;
    list.add_states(v1::JOB_STATE_QUEUED);
    v1::ListJobsResponse response;
    ASSERT_TRUE(h.stub->ListJobs(&context, list, &response).ok());
    ASSERT_EQ(response.jobs_size(), 1);
    EXPECT_EQ(response.jobs(0).job_id(), ids[1]);
  }
  {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(ids[1]);
    v1::JobStatus status;
    ASSERT_TRUE(h.stub->CancelJob(&context, ref, &status).ok());
    EXPECT_EQ(status.state(), v1::JOB_STATE_CANCELLED);
  }
  h.pipeline.Release();
  ASSERT_TRUE(WaitForState(h, ids[0], v1::JOB_STATE_SUCCEEDED));
  grpc::ClientContext context;
  v1::JobRef ref;
  ref.set_job_id(ids[0]);
  v1::JobStatus status;
  ASSERT_TRUE(h.stub->GetJob(&context, ref, &status).ok());
  EXPECT_EQ(status.state(), v1::JOB_STATE_SUCCEEDED);
  grpc::ClientContext missing_context;
  ref.set_job_id("job-missing");
  EXPECT_EQ(h.stub->CancelJob(&missing_context, ref, &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(ServiceTest, ATenantsTokensSeeOnlyItsJobsAndTokensWithoutATenantSeeAll) {
  Harness h(
      {.steps = 1}, {.max_queue = 8},
      BearerAuth::WithTokens({{"admin-t0ken", ""}, {"a-t0ken", "team-a"}, {"b-t0ken", "team-b"}}));
  auto as = [](grpc::ClientContext& context, const std::string& token) -> grpc::ClientContext& {
    context.AddMetadata("authorization", "Bearer " + token);
    return context;
  };
  // One finished job each for team-a, team-b and the admin token.
  std::map<std::string, std::string> job_of;
  for (const std::string token : {"a-t0ken", "b-t0ken", "admin-t0ken"}) {
    grpc::ClientContext context;
    StreamResult run = Generate(h, Request(1), &as(context, token));
    ASSERT_TRUE(run.status.ok()) << run.status.error_message();
    job_of[token] = run.events.at(0).job_id();
  }
  auto list = [&](const std::string& token) {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    EXPECT_TRUE(h.stub->ListJobs(&as(context, token), v1::ListJobsRequest(), &response).ok());
    std::map<std::string, std::string> tenants;  // job id -> tenant
    for (const v1::JobStatus& job : response.jobs()) tenants[job.job_id()] = job.tenant();
    return tenants;
  };
  EXPECT_EQ(list("a-t0ken"), (std::map<std::string, std::string>{{job_of["a-t0ken"], "team-a"}}));
  EXPECT_EQ(list("b-t0ken"), (std::map<std::string, std::string>{{job_of["b-t0ken"], "team-b"}}));
  EXPECT_EQ(list("admin-t0ken"), (std::map<std::string, std::string>{{job_of["a-t0ken"], "team-a"},
                                                                     {job_of["b-t0ken"], "team-b"},
                                                                     {job_of["admin-t0ken"], ""}}));

  // Another tenant's job, or the admin token's, is answered as an unknown id would be.
  auto get = [&](const std::string& token, const std::string& id) {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(id);
    v1::JobStatus status;
    return h.stub->GetJob(&as(context, token), ref, &status);
  };
  const grpc::Status unknown = get("b-t0ken", "job-never-made");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  for (const std::string& id : {job_of["a-t0ken"], job_of["admin-t0ken"]}) {
    const grpc::Status hidden = get("b-t0ken", id);
    EXPECT_EQ(hidden.error_code(), grpc::StatusCode::NOT_FOUND) << id;
    std::string expected = unknown.error_message();
    expected.replace(expected.find("job-never-made"), std::string("job-never-made").size(), id);
    EXPECT_EQ(hidden.error_message(), expected);
  }
  EXPECT_TRUE(get("a-t0ken", job_of["a-t0ken"]).ok());
  EXPECT_TRUE(get("admin-t0ken", job_of["a-t0ken"]).ok());
  {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(job_of["a-t0ken"]);
    v1::JobStatus status;
    EXPECT_EQ(h.stub->CancelJob(&as(context, "b-t0ken"), ref, &status).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  for (const auto& [token, code] : std::vector<std::pair<std::string, grpc::StatusCode>>{
           {"b-t0ken", grpc::StatusCode::NOT_FOUND}, {"a-t0ken", grpc::StatusCode::OK}}) {
    grpc::ClientContext context;
    v1::JobRef ref;
    ref.set_job_id(job_of["a-t0ken"]);
    auto reader = h.stub->WatchJob(&as(context, token), ref);
    StreamResult watched = Drain(reader);
    EXPECT_EQ(watched.status.error_code(), code) << token;
    EXPECT_EQ(watched.events.empty(), code != grpc::StatusCode::OK) << token;
  }
}

}  // namespace
}  // namespace ovid::server
