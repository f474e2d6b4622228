// File: server/request_convert.cc
#include "server/request_convert.h"

#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovid::server {
namespace {

absl::StatusOr<Conditioning> ToConditioning(const v1::Conditioning& wire, const char* field) {
  switch (wire.source_case()) {
    case v1::Conditioning::SOURCE_NOT_SET:
      return Conditioning{};
    case v1::Conditioning::kPrompt:
      if (wire.prompt().empty()) {
        // Unset means "Ovi's default" for a negative; the positive has no default.
        const bool negative = std::string_view(field) != "conditioning";
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".prompt is empty; give a prompt",
            negative ? absl::StrCat(" or leave ", field, " unset for the default") : ""));
      }
      return Conditioning{wire.prompt()};
    case v1::Conditioning::kEmbedding: {
      const v1::TextEmbedding& e = wire.embedding();
      return Conditioning{TextEmbedding{e.bf16(), e.tokens(), e.dim()}};
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown conditioning source"));
}

absl::StatusOr<Solver> ToSolver(v1::Solver solver) {
  switch (solver) {
    case v1::SOLVER_UNSPECIFIED:
      return Solver::kUnspecified;
    case v1::SOLVER_UNIPC:
      return Solver::kUniPC;
    case v1::SOLVER_EULER:
      return Solver::kEuler;
    case v1::SOLVER_DPMPP:
      return Solver::kDpmpp;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "solver: ", static_cast<int>(solver),
      " is not a known Solver (SOLVER_UNIPC = 1, SOLVER_EULER = 2, SOLVER_DPMPP = 3)"));
}

absl::StatusOr<std::vector<OutputFormat>> ToOutputs(
    const google::protobuf::RepeatedField<int>& wire) {
  std::vector<OutputFormat> outputs;
  std::set<int> seen;
  for (int i = 0; i < wire.size(); ++i) {
    const int value = wire.Get(i);
    if (value <= v1::OUTPUT_FORMAT_UNSPECIFIED || value > v1::OUTPUT_FORMAT_PNG_FRAMES) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outputs[", i, "]: ", value,
          " is not an output format (OUTPUT_FORMAT_LATENTS = 1, MP4 = 2, WAV = 3, PNG_FRAMES = 4)"));
    }
    if (!seen.insert(value).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outputs[", i, "]: ", v1::OutputFormat_Name(static_cast<v1::OutputFormat>(value)),
          " is listed twice"));
    }
    outputs.push_back(static_cast<OutputFormat>(value));
  }
  return outputs;
}

}  // namespace

absl::StatusOr<GenerationRequest> ToGenerationRequest(const v1::GenerateRequest& wire) {
  if (wire.client_request_id().size() > kMaxClientRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("client_request_id: ",
                                                   wire.client_request_id().size(),
                                                   " bytes; at most ", kMaxClientRequestIdBytes));
  }
  GenerationRequest request;
  auto conditioning = ToConditioning(wire.conditioning(), "conditioning");
  if (!conditioning.ok()) return conditioning.status();
  request.conditioning = *std::move(conditioning);
  auto video_negative = ToConditioning(wire.video_negative(), "video_negative");
  if (!video_negative.ok()) return video_negative.status();
  request.video_negative = *std::move(video_negative);
  auto audio_negative = ToConditioning(wire.audio_negative(), "audio_negative");
  if (!audio_negative.ok()) return audio_negative.status();
  request.audio_negative = *std::move(audio_negative);

  if (wire.has_width()) request.width = wire.width();
  if (wire.has_height()) request.height = wire.height();
  if (wire.has_duration_seconds()) request.duration_seconds = wire.duration_seconds();
  if (wire.has_steps()) request.steps = wire.steps();
  if (wire.has_solver()) {
    auto solver = ToSolver(wire.solver());
    if (!solver.ok()) return solver.status();
    request.solver = *solver;
  }
  if (wire.has_shift()) request.shift = wire.shift();
  if (wire.has_video_guidance()) request.video_guidance = wire.video_guidance();
  if (wire.has_audio_guidance()) request.audio_guidance = wire.audio_guidance();
  if (wire.has_slg_layer()) request.slg_layer = wire.slg_layer();
  if (wire.has_seed()) request.seed = wire.seed();
  request.first_frame = wire.first_frame();
  auto outputs = ToOutputs(wire.outputs());
  if (!outputs.ok()) return outputs.status();
  request.outputs = *std::move(outputs);
  return request;
}

absl::StatusOr<JobSchedule> ToJobSchedule(const v1::GenerateRequest& wire) {
  JobSchedule schedule;
  if (wire.priority() < kMinPriority || wire.priority() > kMaxPriority) {
    return absl::InvalidArgumentError(absl::StrCat("priority: ", wire.priority(),
                                                   " is outside ", kMinPriority, "..",
                                                   kMaxPriority));
  }
  schedule.priority = wire.priority();
  if (wire.has_max_queue_seconds()) {
    const float seconds = wire.max_queue_seconds();
    // The negated comparison also catches NaN; %.9g shows the float as received (StrCat's six
    // digits would print 86400.0078 as 86400, "outside (0.01, 86400]").
    // The floor as a float: 0.01f is 0.0099999998, and the documented bound must be accepted.
    if (!(seconds >= static_cast<float>(kMinQueueSecondsLimit)) || !std::isfinite(seconds) ||
        seconds > kMaxQueueSecondsLimit) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "max_queue_seconds: %.9g is outside [%g, %g]", seconds, kMinQueueSecondsLimit,
          kMaxQueueSecondsLimit));
    }
    schedule.max_queue_wait = absl::Seconds(seconds);
  }
  return schedule;
}

}  // namespace ovid::server
