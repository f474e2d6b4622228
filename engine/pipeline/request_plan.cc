// File: engine/pipeline/request_plan.cc
// Torch-free on purpose: no LibTorch header may appear here (see request_plan.h).
#include "engine/pipeline/request_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/media/media_input.h"  // kMaxSide only (a constant; no library needed)
#include "engine/text/prompt_clean.h"

namespace ovid::pipeline {
namespace {

constexpr uint32_t kMinSide = 128;
constexpr uint32_t kMaxSide = 1920;
constexpr uint32_t kMaxSteps = 200;
// Below ~1e-35 the float32 noise schedule underflows to zero sigmas and the solvers divide 0 by
// 0; 0.001 keeps far away from that while allowing any shift worth trying.
constexpr float kMinShift = 0.001f;
constexpr float kMaxShift = 20.0f;
constexpr float kMaxGuidance = 30.0f;

const char* OutputName(OutputFormat f) {
  switch (f) {
    case OutputFormat::kUnspecified:
      return "OUTPUT_FORMAT_UNSPECIFIED";
    case OutputFormat::kLatents:
      return "OUTPUT_FORMAT_LATENTS";
    case OutputFormat::kMp4:
      return "OUTPUT_FORMAT_MP4";
    case OutputFormat::kWav:
      return "OUTPUT_FORMAT_WAV";
    case OutputFormat::kPngFrames:
      return "OUTPUT_FORMAT_PNG_FRAMES";
  }
  return "an unknown OutputFormat";
}

constexpr int kEmbeddingMaxLog2 = 16;  // embedding values must be below 2^16 in magnitude

// One embedding's shape and size against the model. `field` is the proto path of the
// Conditioning ("conditioning", "video_negative", ...).
absl::Status CheckEmbedding(const TextEmbedding& e, const std::string& field,
                            const ModelLimits& limits) {
  const std::string f = field + ".embedding";
  if (e.dim != limits.text_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(f, ".dim must be ", limits.text_dim, " (the model's text_dim), got ", e.dim));
  }
  if (e.tokens < 1 || e.tokens > limits.text_len) {
    return absl::InvalidArgumentError(absl::StrCat(f, ".tokens must be 1..", limits.text_len,
                                                   " (the model's text_len), got ", e.tokens));
  }
  const uint64_t want = uint64_t{2} * e.tokens * e.dim;
  if (e.bf16.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(f, ".bf16 must hold 2 * tokens * dim = ", want,
                                                   " bytes (bf16 [", e.tokens, ", ", e.dim,
                                                   "]), got ", e.bf16.size()));
  }
  // A NaN or infinity would run the whole job into NaN latents; so would huge finite values,
  // which overflow bf16 in the text projection's matmuls (3e38 everywhere did). UMT5's outputs
  // come out of an RMS norm and are a few units, so |x| < 2^16 leaves them four orders of
  // magnitude. bf16 little-endian: the exponent is bits 7..14 of the value, biased by 127.
  for (uint64_t i = 0; i < want / 2; ++i) {
    const auto hi = static_cast<unsigned char>(e.bf16[2 * i + 1]);
    const auto lo = static_cast<unsigned char>(e.bf16[2 * i]);
    const int exponent = ((hi & 0x7f) << 1) | (lo >> 7);
    if (exponent == 0xff) {
      return absl::InvalidArgumentError(absl::StrCat(f, ".bf16 holds a NaN or infinity at token ",
                                                     i / e.dim, ", channel ", i % e.dim));
    }
    if (exponent >= 127 + kEmbeddingMaxLog2) {
      return absl::InvalidArgumentError(absl::StrCat(
          f, ".bf16 holds a value of magnitude 2^", exponent - 127, " or more (",
          (hi & 0x80) ? "negative" : "positive", ") at token ", i / e.dim, ", channel ", i % e.dim,
          ": values must be within +-2^", kEmbeddingMaxLog2,
          " (a text encoder's outputs are a few units; larger ones overflow the model in bf16)"));
    }
  }
  return absl::OkStatus();
}

// A prompt is cut to the model's text_len tokens (512) after normalization and segmentation,
// which cost memory and time in proportion to the whole text: 16 bytes of segmentation state per
// normalized byte, and NFKC may grow a character ~10x. 512 tokens of any language fit in a few KB;
// 64 KiB leaves room for any real prompt while a megabytes-long one (up to --max-receive-bytes)
// cannot tie up a worker and gigabytes of host memory for tokens that are thrown away.
constexpr size_t kMaxPromptBytes = 64 * 1024;

// What a prompt must pass without a tokenizer, so the request is refused at admission rather
// than after queueing: its size, valid UTF-8, and some text left after Ovi's cleaning. A prompt
// of spaces or "&nbsp;" would condition on nothing, like "", which the API refuses too.
absl::Status CheckPromptText(const std::string& prompt, const std::string& field) {
  if (prompt.size() > kMaxPromptBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".prompt is ", prompt.size(),
                                                   " bytes; at most ", kMaxPromptBytes,
                                                   " (the model reads 512 tokens of it)"));
  }
  absl::StatusOr<std::string> cleaned = text::CleanPrompt(prompt);
  if (!cleaned.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".prompt: ", cleaned.status().message()));
  }
  if (cleaned->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".prompt has no text: it is only whitespace once HTML entities are decoded"));
  }
  return absl::OkStatus();
}

absl::Status PromptNeedsEncoder(const std::string& field) {
  return absl::FailedPreconditionError(absl::StrCat(
      field, ".prompt: no text encoder is loaded; pass ", field, ".embedding (UMT5-XXL output)"));
}

// A tower's negative: an embedding is checked; a prompt needs the encoder; absence means Ovi's
// default negative prompt (needs the encoder too) whenever the negative pass runs at all. That
// pass runs both towers together, and each cross-attends to the other's hidden states, so an
// unguided tower's negative context still shapes the guided tower's negative prediction: Ovi
// always gives both towers their negatives. Only with both scales at 1 (no negative pass) are
// the negatives unused: a given one is still checked, but not kept, so it is neither encoded
// (an offloaded UMT5 is not loaded for it) nor needs an encoder.
absl::StatusOr<TextInput> NegativeInput(const Conditioning& c, const std::string& field,
                                        const JobPlan& plan, const char* default_prompt,
                                        const ModelLimits& limits) {
  TextInput in;
  if (const auto* e = std::get_if<TextEmbedding>(&c)) {
    if (absl::Status s = CheckEmbedding(*e, field, limits); !s.ok()) return s;
    if (!plan.Unguided()) in.embedding = e;
    return in;
  }
  if (const auto* prompt = std::get_if<std::string>(&c)) {
    if (plan.Unguided()) {
      if (absl::Status s = CheckPromptText(*prompt, field); !s.ok()) return s;
      return in;
    }
    if (!limits.text_encoder) return PromptNeedsEncoder(field);
    if (absl::Status s = CheckPromptText(*prompt, field); !s.ok()) return s;
    in.prompt = *prompt;
    return in;
  }
  if (plan.Unguided()) return in;
  const EffectiveParameters& p = plan.parameters;
  if (!limits.text_encoder) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, " is not given and the negative pass runs (video_guidance ", p.video_guidance,
        ", audio_guidance ", p.audio_guidance,
        "): it needs a negative for both towers, and the default negative prompt (\"",
        default_prompt, "\") needs the text encoder, which is not loaded; pass ", field,
        ".embedding, or set both guidance scales to 1 to run without negatives"));
  }
  in.prompt = default_prompt;
  return in;
}

std::string AvailableOutputs(const ModelLimits& limits) {
  std::string names;
  for (OutputFormat f : AvailableOutputFormats(limits)) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", OutputName(f));
  }
  return names;
}

absl::Status CheckRange(const char* field, double value, double lo, double hi, bool lo_open) {
  const bool ok = std::isfinite(value) && (lo_open ? value > lo : value >= lo) && value <= hi;
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be in ", lo_open ? "(" : "[", lo, ", ", hi, "], got ", value));
}

}  // namespace

// std::nearbyint in the default rounding mode rounds half to even, as Python's round does.
std::pair<uint32_t, uint32_t> SnapToArea(uint32_t width, uint32_t height, int64_t area) {
  // Python: scale = sqrt(area / (h * w)); x = int(round(x * scale)); max(32, round(x / 32) * 32).
  const double scale = std::sqrt(static_cast<double>(area) / (static_cast<double>(width) * height));
  auto snap = [&](uint32_t side) {
    const double pixels = std::nearbyint(static_cast<double>(side) * scale);
    return static_cast<uint32_t>(std::max(1.0, std::nearbyint(pixels / 32.0))) * 32u;
  };
  return {snap(width), snap(height)};
}

std::pair<uint32_t, uint32_t> FitImageToArea(uint32_t width, uint32_t height, int64_t area) {
  constexpr int64_t kMultiple = 32;
  if (area <= 0) return {width, height};
  const double ratio = static_cast<double>(width) / height;  // width over height
  const int64_t target_units = std::max<int64_t>(1, area / (kMultiple * kMultiple));
  const auto p0 = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::nearbyint(std::sqrt(static_cast<double>(target_units) / std::max(ratio, 1e-8)))));
  std::vector<std::pair<int64_t, int64_t>> candidates;  // {height, width}, Ovi's order
  for (int64_t dp = -3; dp <= 3; ++dp) {
    const int64_t p = std::max<int64_t>(1, p0 + dp);
    const auto q =
        std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(static_cast<double>(p) * ratio)));
    candidates.emplace_back(p * kMultiple, q * kMultiple);
  }
  const double scale = std::sqrt(static_cast<double>(area) / (static_cast<double>(height) * width));
  auto scaled = [&](uint32_t side) {
    const double units = std::nearbyint(static_cast<double>(side) * scale / kMultiple);
    return std::max<int64_t>(kMultiple, static_cast<int64_t>(units) * kMultiple);
  };
  candidates.emplace_back(scaled(height), scaled(width));
  // Python's min over (|area difference|, |aspect difference|): the first of equal scores wins.
  auto score = [&](const std::pair<int64_t, int64_t>& hw) {
    return std::make_pair(
        std::llabs(hw.first * hw.second - area),
        std::fabs(static_cast<double>(hw.second) / std::max(static_cast<double>(hw.first), 1e-8) -
                  ratio));
  };
  const auto best =
      std::min_element(candidates.begin(), candidates.end(),
                       [&](const auto& a, const auto& b) { return score(a) < score(b); });
  return {static_cast<uint32_t>(best->second), static_cast<uint32_t>(best->first)};
}

bool JobPlan::Wants(OutputFormat f) const {
  return std::find(parameters.outputs.begin(), parameters.outputs.end(), f) !=
         parameters.outputs.end();
}

std::vector<OutputFormat> AvailableOutputFormats(const ModelLimits& limits) {
  std::vector<OutputFormat> out = {OutputFormat::kLatents};
  if (!limits.media) return out;
  if (limits.video_decoder && limits.audio_decoder) out.push_back(OutputFormat::kMp4);
  if (limits.audio_decoder) out.push_back(OutputFormat::kWav);
  if (limits.video_decoder) out.push_back(OutputFormat::kPngFrames);
  return out;
}

absl::StatusOr<JobPlan> PlanJob(const GenerationRequest& request, const ModelLimits& limits,
                                std::optional<ImageSize> first_frame) {
  JobPlan plan;
  EffectiveParameters& p = plan.parameters;

  // Sampling parameters first: the negatives' rules depend on the guidance scales.
  p.steps = request.steps.value_or(kDefaultSteps);
  if (p.steps < 1 || p.steps > kMaxSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be 1..", kMaxSteps, ", got ", p.steps));
  }
  p.solver = request.solver.value_or(Solver::kUniPC);
  if (p.solver == Solver::kUnspecified) p.solver = Solver::kUniPC;
  if (p.solver != Solver::kUniPC && p.solver != Solver::kEuler && p.solver != Solver::kDpmpp) {
    return absl::InvalidArgumentError(
        absl::StrCat("solver must be SOLVER_UNIPC, SOLVER_EULER or SOLVER_DPMPP, got ",
                     static_cast<int>(p.solver)));
  }
  p.shift = request.shift.value_or(kDefaultShift);
  if (absl::Status s = CheckRange("shift", p.shift, kMinShift, kMaxShift, false); !s.ok()) {
    return s;
  }
  p.video_guidance = request.video_guidance.value_or(kDefaultVideoGuidance);
  if (absl::Status s = CheckRange("video_guidance", p.video_guidance, 0, kMaxGuidance, false);
      !s.ok()) {
    return s;
  }
  p.audio_guidance = request.audio_guidance.value_or(kDefaultAudioGuidance);
  if (absl::Status s = CheckRange("audio_guidance", p.audio_guidance, 0, kMaxGuidance, false);
      !s.ok()) {
    return s;
  }
  const int32_t max_slg = static_cast<int32_t>(limits.layers - 1);
  if (request.slg_layer.has_value()) {
    p.slg_layer = *request.slg_layer;
    if (p.slg_layer > max_slg) {
      return absl::InvalidArgumentError(absl::StrCat("slg_layer must be <= 0 (off) or 1..", max_slg,
                                                     " (the model has ", limits.layers,
                                                     " layers), got ", p.slg_layer));
    }
  } else {
    // Ovi's 11, or the last block a smaller model has (the tiny test model: 2).
    p.slg_layer = std::min(kDefaultSlgLayer, std::max(max_slg, 0));
    plan.slg_defaulted = true;
  }
  plan.seed = request.seed;

  // Conditioning.
  if (std::holds_alternative<std::monostate>(request.conditioning)) {
    return absl::InvalidArgumentError(
        "conditioning is required: set conditioning.embedding (or conditioning.prompt with a "
        "text encoder)");
  }
  if (const auto* prompt = std::get_if<std::string>(&request.conditioning)) {
    if (!limits.text_encoder) return PromptNeedsEncoder("conditioning");
    if (absl::Status s = CheckPromptText(*prompt, "conditioning"); !s.ok()) return s;
    plan.positive.prompt = *prompt;
    plan.positive.positive_prompt = true;
  }
  if (const auto* e = std::get_if<TextEmbedding>(&request.conditioning)) {
    if (absl::Status s = CheckEmbedding(*e, "conditioning", limits); !s.ok()) return s;
    plan.positive.embedding = e;
  }
  absl::StatusOr<TextInput> vn =
      NegativeInput(request.video_negative, "video_negative", plan, kDefaultVideoNegative, limits);
  if (!vn.ok()) return vn.status();
  plan.video_negative = *std::move(vn);
  absl::StatusOr<TextInput> an =
      NegativeInput(request.audio_negative, "audio_negative", plan, kDefaultAudioNegative, limits);
  if (!an.ok()) return an.status();
  plan.audio_negative = *std::move(an);

  // Size and length.
  const ovi::OviVariant& v = limits.variant;
  for (const auto& [field, value] :
       {std::pair{"width", request.width}, std::pair{"height", request.height}}) {
    if (value.has_value() && (*value < kMinSide || *value > kMaxSide)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " must be ", kMinSide, "..", kMaxSide, " pixels, got ", *value));
    }
  }
  if (!request.first_frame.empty()) {
    if (!limits.video_vae_encoder || !limits.media) {
      return absl::FailedPreconditionError(absl::StrCat(
          "first_frame: image to video needs ",
          !limits.video_vae_encoder ? "the video VAE encoder, which is not loaded"
                                    : "PNG/JPEG decoding, which this build lacks (no libavcodec)",
          "; send first_frame empty (text to video)"));
    }
    if (!first_frame.has_value() || first_frame->width == 0 || first_frame->height == 0) {
      return absl::InvalidArgumentError("first_frame: the image could not be read");
    }
    plan.image_to_video = true;
  }
  // The video's aspect: the request's, else the first frame's, else square.
  const auto side = static_cast<uint32_t>(v.side);
  const uint32_t aspect_w = plan.image_to_video ? first_frame->width : side;
  const uint32_t aspect_h = plan.image_to_video ? first_frame->height : side;
  if (request.width.has_value() != request.height.has_value() && plan.image_to_video) {
    return absl::InvalidArgumentError(
        "width and height: give both or neither with first_frame (neither keeps the image's "
        "aspect)");
  }
  // Ovi sizes a first frame by its own rule; sizes from the request follow the text-to-video one.
  std::tie(p.width, p.height) =
      plan.image_to_video && !request.width.has_value()
          ? FitImageToArea(aspect_w, aspect_h, v.area)
          : SnapToArea(request.width.value_or(aspect_w), request.height.value_or(aspect_h), v.area);
  // The request's sides are checked before snapping; an extreme aspect (a first frame of 40x8192,
  // say) can still snap past what the decoder and the muxer take, which would fail only after
  // the whole run.
  if (p.width < 32 * 2 || p.height < 32 * 2 || p.width > media::kMaxSide ||
      p.height > media::kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat(plan.image_to_video ? "first_frame" : "width/height",
                     ": aspect too extreme, the video would be ", p.width, "x", p.height,
                     " (each side must be 64..", media::kMaxSide, ")"));
  }
  p.duration_seconds = v.duration_seconds;
  if (request.duration_seconds.has_value() &&
      !(std::fabs(*request.duration_seconds - v.duration_seconds) < 1e-3f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("duration_seconds must be ", v.duration_seconds, " for the ", v.name,
                     " checkpoint (its only clip length), got ", *request.duration_seconds));
  }
  plan.latent_frames = v.video_latent_frames;
  plan.latent_height = p.height / 16;
  plan.latent_width = p.width / 16;
  plan.audio_latents = v.audio_latents;
  p.video_frames = static_cast<uint32_t>(v.VideoFrames());
  p.audio_samples = static_cast<uint32_t>(v.AudioSamples());

  // Outputs: the default is the MP4 when both decoders are loaded, else the latents.
  const bool can_mp4 = limits.video_decoder && limits.audio_decoder && limits.media;
  p.outputs = request.outputs;
  if (p.outputs.empty()) p.outputs = {can_mp4 ? OutputFormat::kMp4 : OutputFormat::kLatents};
  for (size_t i = 0; i < p.outputs.size(); ++i) {
    const OutputFormat f = p.outputs[i];
    const std::string field = absl::StrCat("outputs[", i, "]");
    if (f != OutputFormat::kLatents && f != OutputFormat::kMp4 && f != OutputFormat::kWav &&
        f != OutputFormat::kPngFrames) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " must be OUTPUT_FORMAT_LATENTS, _MP4, _WAV or _PNG_FRAMES, got ", OutputName(f)));
    }
    std::string missing;
    const bool video = f == OutputFormat::kMp4 || f == OutputFormat::kPngFrames;
    const bool audio = f == OutputFormat::kMp4 || f == OutputFormat::kWav;
    if (video && !limits.video_decoder) missing = "the video VAE decoder";
    if (audio && !limits.audio_decoder) {
      missing = missing.empty() ? "the audio VAE and vocoder"
                                : missing + " and the audio VAE and vocoder";
    }
    if (missing.empty() && (video || audio) && !limits.media) {
      missing = "libavcodec, which this build lacks";
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": ", OutputName(f), " needs ", missing,
                       " (not loaded); available: ", AvailableOutputs(limits)));
    }
    if (std::find(p.outputs.begin(), p.outputs.begin() + i, f) != p.outputs.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", OutputName(f), " is listed twice"));
    }
  }
  return plan;
}

}  // namespace ovid::pipeline
