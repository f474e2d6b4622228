// File: tests/server/request_convert_test.cc
#include "server/request_convert.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace ovid::server {
namespace {

v1::GenerateRequest WithEmbedding() {
  v1::GenerateRequest request;
  v1::TextEmbedding* e = request.mutable_conditioning()->mutable_embedding();
  e->set_tokens(2);
  e->set_dim(4);
  e->set_bf16(std::string(16, '\0'));
  return request;
}

TEST(RequestConvertTest, CopiesEveryFieldAndKeepsUnsetOnesUnset) {
  v1::GenerateRequest wire = WithEmbedding();
  wire.mutable_video_negative()->set_prompt("blur");
  wire.set_width(720);
  wire.set_steps(30);
  wire.set_solver(v1::SOLVER_EULER);
  wire.set_shift(3.5f);
  wire.set_audio_guidance(2.0f);
  wire.set_slg_layer(-1);
  wire.set_seed(7);
  wire.set_first_frame("png");
  wire.add_outputs(v1::OUTPUT_FORMAT_LATENTS);
  absl::StatusOr<GenerationRequest> request = ToGenerationRequest(wire);
  ASSERT_TRUE(request.ok()) << request.status();
  const auto& embedding = std::get<TextEmbedding>(request->conditioning);
  EXPECT_EQ(embedding.tokens, 2u);
  EXPECT_EQ(embedding.dim, 4u);
  EXPECT_EQ(embedding.bf16.size(), 16u);
  EXPECT_EQ(std::get<std::string>(request->video_negative), "blur");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(request->audio_negative));
  EXPECT_EQ(request->width, 720u);
  EXPECT_FALSE(request->height.has_value());
  EXPECT_FALSE(request->duration_seconds.has_value());
  EXPECT_EQ(request->steps, 30u);
  EXPECT_EQ(request->solver, Solver::kEuler);
  EXPECT_EQ(request->shift, 3.5f);
  EXPECT_FALSE(request->video_guidance.has_value());
  EXPECT_EQ(request->audio_guidance, 2.0f);
  EXPECT_EQ(request->slg_layer, -1);
  EXPECT_EQ(request->seed, 7u);
  EXPECT_EQ(request->first_frame, "png");
  ASSERT_EQ(request->outputs.size(), 1u);
  EXPECT_EQ(request->outputs[0], OutputFormat::kLatents);
}

TEST(RequestConvertTest, ZeroIsAValueNotAnAbsence) {
  v1::GenerateRequest wire = WithEmbedding();
  wire.set_video_guidance(0.0f);
  wire.set_seed(0);
  absl::StatusOr<GenerationRequest> request = ToGenerationRequest(wire);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->video_guidance, 0.0f);
  EXPECT_EQ(request->seed, 0u);
}

struct BadCase {
  const char* name;
  void (*mutate)(v1::GenerateRequest&);
  const char* field;
};

TEST(RequestConvertTest, WireLevelMistakesNameTheField) {
  const BadCase cases[] = {
      {"unknown solver", [](v1::GenerateRequest& r) { r.set_solver(static_cast<v1::Solver>(9)); },
       "solver"},
      {"unspecified output",
       [](v1::GenerateRequest& r) { r.add_outputs(v1::OUTPUT_FORMAT_UNSPECIFIED); }, "outputs[0]"},
      {"unknown output", [](v1::GenerateRequest& r) { r.add_outputs(static_cast<v1::OutputFormat>(77)); }, "outputs[0]"},
      {"duplicate output",
       [](v1::GenerateRequest& r) {
         r.add_outputs(v1::OUTPUT_FORMAT_LATENTS);
         r.add_outputs(v1::OUTPUT_FORMAT_LATENTS);
       },
       "outputs[1]"},
      {"long client id",
       [](v1::GenerateRequest& r) { r.set_client_request_id(std::string(129, 'x')); },
       "client_request_id"},
      {"empty prompt", [](v1::GenerateRequest& r) { r.mutable_audio_negative()->set_prompt(""); },
       "audio_negative.prompt"},
  };
  for (const BadCase& c : cases) {
    v1::GenerateRequest wire = WithEmbedding();
    c.mutate(wire);
    absl::StatusOr<GenerationRequest> request = ToGenerationRequest(wire);
    ASSERT_FALSE(request.ok()) << c.name;
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(request.status().message().find(c.field), std::string::npos)
        << c.name << ": " << request.status();
  }
}

TEST(RequestConvertTest, AClientIdOfExactly128BytesIsAccepted) {
  v1::GenerateRequest wire = WithEmbedding();
  wire.set_client_request_id(std::string(kMaxClientRequestIdBytes, 'x'));
  EXPECT_TRUE(ToGenerationRequest(wire).ok());
}

TEST(RequestConvertTest, ScheduleDefaultsToPriorityZeroAndNoQueueLimit) {
  absl::StatusOr<JobSchedule> schedule = ToJobSchedule(WithEmbedding());
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->priority, 0);
  EXPECT_EQ(schedule->max_queue_wait, absl::InfiniteDuration());
}

TEST(RequestConvertTest, ScheduleCopiesPriorityAndQueueLimitAtTheirBounds) {
  v1::GenerateRequest wire = WithEmbedding();
  wire.set_priority(kMaxPriority);
  wire.set_max_queue_seconds(86400.0f);
  absl::StatusOr<JobSchedule> schedule = ToJobSchedule(wire);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->priority, 100);
  EXPECT_EQ(schedule->max_queue_wait, absl::Hours(24));
  wire.set_priority(kMinPriority);
  wire.set_max_queue_seconds(0.25f);
  schedule = ToJobSchedule(wire);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->priority, -100);
  EXPECT_EQ(schedule->max_queue_wait, absl::Milliseconds(250));
  // The documented floor, as a float arrives: 0.01f is 0.0099999998 (it used to be refused).
  wire.set_max_queue_seconds(0.01f);
  schedule = ToJobSchedule(wire);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_LT(absl::AbsDuration(schedule->max_queue_wait - absl::Milliseconds(10)),
            absl::Microseconds(1));
}

TEST(RequestConvertTest, ScheduleOutOfRangeNamesTheFieldAndTheRange) {
  struct Case {
    const char* name;
    void (*set)(v1::GenerateRequest&);
    const char* want;
  };
  const Case cases[] = {
      {"priority over", [](v1::GenerateRequest& r) { r.set_priority(101); }, "priority: 101"},
      {"priority under", [](v1::GenerateRequest& r) { r.set_priority(-101); }, "-100..100"},
      {"zero wait", [](v1::GenerateRequest& r) { r.set_max_queue_seconds(0); },
       "max_queue_seconds: 0 is outside [0.01, 86400]"},
      {"under the floor", [](v1::GenerateRequest& r) { r.set_max_queue_seconds(0.001f); },
       "max_queue_seconds: 0.00100000005"},
      {"just over a day, printed as received",
       [](v1::GenerateRequest& r) { r.set_max_queue_seconds(86400.004f); },
       "max_queue_seconds: 86400.0078"},
      {"negative wait", [](v1::GenerateRequest& r) { r.set_max_queue_seconds(-1); },
       "max_queue_seconds"},
      {"NaN wait",
       [](v1::GenerateRequest& r) { r.set_max_queue_seconds(std::numeric_limits<float>::quiet_NaN()); },
       "max_queue_seconds"},
      {"infinite wait",
       [](v1::GenerateRequest& r) { r.set_max_queue_seconds(std::numeric_limits<float>::infinity()); },
       "max_queue_seconds"},
      {"over a day", [](v1::GenerateRequest& r) { r.set_max_queue_seconds(86401); },
       "[0.01, 86400]"},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest wire = WithEmbedding();
    c.set(wire);
    absl::StatusOr<JobSchedule> schedule = ToJobSchedule(wire);
    EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(schedule.status().message().find(c.want), std::string::npos)
        << c.name << ": " << schedule.status();
  }
}

}  // namespace
}  // namespace ovid::server
