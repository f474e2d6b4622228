// File: tools/ovidctl/request_flags.cc
#include "tools/ovidctl/request_flags.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tools/ovidctl/embedding.h"

namespace ovidctl {

const std::vector<FlagSpec>& RequestFlags() {
  static const std::vector<FlagSpec> flags = {
      {"embedding"},      {"prompt"},          {"first-frame"},
      {"width"},          {"height"},          {"duration"},
      {"steps"},          {"solver"},          {"shift"},
      {"video-guidance"}, {"audio-guidance"},  {"slg-layer"},
      {"seed"},           {"output-format", true, true},
      {"client-request-id"}, {"keep", false},
      {"priority"},       {"max-queue-seconds"},
  };
  return flags;
}

namespace {

ovid::v1::Solver ParseSolver(const std::string& text) {
  const std::string s = absl::AsciiStrToLower(text);
  if (s == "unipc") return ovid::v1::SOLVER_UNIPC;
  if (s == "euler") return ovid::v1::SOLVER_EULER;
  if (s == "dpmpp") return ovid::v1::SOLVER_DPMPP;
  throw UsageError(absl::StrCat("--solver: '", text, "' is not one of unipc, euler, dpmpp"));
}

ovid::v1::OutputFormat ParseFormat(const std::string& text) {
  const std::string s = absl::AsciiStrToLower(text);
  if (s == "latents") return ovid::v1::OUTPUT_FORMAT_LATENTS;
  if (s == "mp4") return ovid::v1::OUTPUT_FORMAT_MP4;
  if (s == "wav") return ovid::v1::OUTPUT_FORMAT_WAV;
  if (s == "png_frames") return ovid::v1::OUTPUT_FORMAT_PNG_FRAMES;
  throw UsageError(
      absl::StrCat("--output-format: '", text, "' is not one of latents, mp4, wav, png_frames"));
}

float GetFloat(const Args& args, const std::string& name) {
  return static_cast<float>(*args.GetDouble(name));
}

}  // namespace

ovid::v1::GenerateRequest RequestFromFlags(const Args& args) {
  ovid::v1::GenerateRequest req;
  const bool embedding = args.Has("embedding"), prompt = args.Has("prompt");
  if (embedding == prompt) throw UsageError("generate needs exactly one of --embedding, --prompt");
  if (prompt) {
    req.mutable_conditioning()->set_prompt(*args.GetText("prompt"));
  } else {
    auto emb = LoadEmbeddings(*args.Get("embedding"));
    if (!emb.ok()) throw UsageError(absl::StrCat("--embedding: ", emb.status().message()));
    *req.mutable_conditioning()->mutable_embedding() = emb->context;
    if (emb->video_negative) *req.mutable_video_negative()->mutable_embedding() = *emb->video_negative;
    if (emb->audio_negative) *req.mutable_audio_negative()->mutable_embedding() = *emb->audio_negative;
  }
  if (auto path = args.Get("first-frame")) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) throw UsageError(absl::StrCat("--first-frame: cannot read '", *path, "'"));
    std::ostringstream buf;
    buf << in.rdbuf();
    req.set_first_frame(buf.str());
  }
  if (auto v = args.GetU32("width")) req.set_width(*v);
  if (auto v = args.GetU32("height")) req.set_height(*v);
  if (args.Has("duration")) req.set_duration_seconds(GetFloat(args, "duration"));
  if (auto v = args.GetU32("steps")) req.set_steps(*v);
  if (auto v = args.Get("solver")) req.set_solver(ParseSolver(*v));
  if (args.Has("shift")) req.set_shift(GetFloat(args, "shift"));
  if (args.Has("video-guidance")) req.set_video_guidance(GetFloat(args, "video-guidance"));
  if (args.Has("audio-guidance")) req.set_audio_guidance(GetFloat(args, "audio-guidance"));
  if (auto v = args.GetI32("slg-layer")) req.set_slg_layer(*v);
  if (auto v = args.GetU64("seed")) req.set_seed(*v);
  for (const std::string& f : args.All("output-format")) req.add_outputs(ParseFormat(f));
  if (auto v = args.GetText("client-request-id")) req.set_client_request_id(*v);
  req.set_keep_on_disconnect(args.Has("keep"));
  if (auto v = args.GetI32("priority")) req.set_priority(*v);
  if (args.Has("max-queue-seconds")) req.set_max_queue_seconds(GetFloat(args, "max-queue-seconds"));
  return req;
}

}  // namespace ovidctl
