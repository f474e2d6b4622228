// File: engine/include/ovid/engine.h
// The narrow engine API the server (and tools) see: what a generation request asks for, what it
// reports while running, and what it returns. Torch-free on purpose (std + absl only): server/
// must build without LibTorch (scripts/check-layering.sh), and a fake Pipeline in the server tests
// must be cheap to write. The types mirror proto/ovid/v1/generation.proto without depending on
// it; server/ converts between the two.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid {

// Same order and meaning as ovid.v1.Solver; kUnspecified means "the engine's default".
enum class Solver { kUnspecified = 0, kUniPC = 1, kEuler = 2, kDpmpp = 3 };

// Same numbers as ovid.v1.OutputFormat.
enum class OutputFormat { kUnspecified = 0, kLatents = 1, kMp4 = 2, kWav = 3, kPngFrames = 4 };

// UMT5-XXL output computed elsewhere: row-major little-endian bf16, shape [tokens, dim].
struct TextEmbedding {
  std::string bf16;  // raw bytes, 2 * tokens * dim of them
  uint32_t tokens = 0;
  uint32_t dim = 0;
};

// A prompt the engine encodes itself, or embeddings; monostate = not given (use the default).
using Conditioning = std::variant<std::monostate, std::string, TextEmbedding>;

// Every tunable is optional: "not given" means the engine's default, which Run reports back in
// GenerationResult::parameters.
struct GenerationRequest {
  Conditioning conditioning;
  Conditioning video_negative;
  Conditioning audio_negative;
  std::optional<uint32_t> width;
  std::optional<uint32_t> height;
  std::optional<float> duration_seconds;
  std::optional<uint32_t> steps;
  std::optional<Solver> solver;
  std::optional<float> shift;
  std::optional<float> video_guidance;
  std::optional<float> audio_guidance;
  std::optional<int32_t> slg_layer;
  std::optional<uint64_t> seed;
  std::string first_frame;            // PNG/JPEG bytes; empty = text to video
  std::vector<OutputFormat> outputs;  // empty = the engine's default
};

// One stage's progress: "text_encode", "denoise", "video_decode", "audio_decode", "mux".
struct Progress {
  std::string stage;
  uint32_t step = 0;   // steps done within the stage
  uint32_t total = 0;  // steps in the stage (1 for single-shot stages)
  double elapsed_seconds = 0;
  double remaining_seconds = 0;  // 0 = unknown
};

struct StageTiming {
  std::string stage;
  double seconds = 0;
  uint64_t peak_vram_bytes = 0;
};

// The parameters a job actually ran with (defaults resolved, sizes snapped).
struct EffectiveParameters {
  uint32_t width = 0;
  uint32_t height = 0;
  float duration_seconds = 0;
  uint32_t steps = 0;
  Solver solver = Solver::kUnspecified;
  float shift = 0;
  float video_guidance = 0;
  float audio_guidance = 0;
  int32_t slg_layer = 0;
  uint32_t video_frames = 0;
  uint32_t audio_samples = 0;
  std::vector<OutputFormat> outputs;
  bool guidance_batched = false;  // both guidance passes ran as one batch (BatchGuidance)
};

// One encoded output, whole. The server cuts it into <= 1 MiB chunks for the wire.
struct Output {
  OutputFormat format = OutputFormat::kUnspecified;
  std::string data;
};

struct GenerationResult {
  uint64_t seed = 0;
  EffectiveParameters parameters;
  std::vector<StageTiming> stages;
  uint64_t peak_vram_bytes = 0;
};

// Where Run reports as it goes. Called on the worker thread that runs the job; implementations
// must return quickly (queue, never wait on a network peer), since the GPU idles meanwhile.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void OnProgress(const Progress& progress) = 0;
  // Each output as soon as it is encoded, before Run returns.
  virtual void OnOutput(Output output) = 0;
};

// Why a job was asked to stop. kShutdown: the server is going away (its drain dropped or stopped
// the job); the client may retry elsewhere, so it reports UNAVAILABLE, not CANCELLED.
enum class CancelReason { kNone = 0, kCancelled, kDeadlineExceeded, kShutdown };

// A thread-safe stop flag that Run polls between steps. The first Cancel wins: a job cancelled
// by its client and then past its deadline still reports CANCELLED.
class CancelToken {
 public:
  // True when this call stopped the token (false: kNone, or an earlier Cancel won), so a
  // caller can tell whether its own reason is the one the job will report.
  bool Cancel(CancelReason reason, std::string message = "") {
    if (reason == CancelReason::kNone) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (reason_.load(std::memory_order_relaxed) != CancelReason::kNone) return false;
    message_ = std::move(message);
    reason_.store(reason, std::memory_order_release);
    return true;
  }
  bool cancelled() const { return reason() != CancelReason::kNone; }
  CancelReason reason() const { return reason_.load(std::memory_order_acquire); }
  // OK while not cancelled; else CANCELLED, DEADLINE_EXCEEDED or UNAVAILABLE with the message,
  // for Run to return as is.
  absl::Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    switch (reason_.load(std::memory_order_relaxed)) {
      case CancelReason::kNone:
        return absl::OkStatus();
      case CancelReason::kCancelled:
        return absl::CancelledError(message_.empty() ? "job cancelled" : message_);
      case CancelReason::kDeadlineExceeded:
        return absl::DeadlineExceededError(message_.empty() ? "deadline exceeded" : message_);
      case CancelReason::kShutdown:
        return absl::UnavailableError(message_.empty() ? "the server is shutting down" : message_);
    }
    return absl::OkStatus();
  }

 private:
  mutable std::mutex mu_;
  std::atomic<CancelReason> reason_{CancelReason::kNone};
  std::string message_;
};

// A loaded model that generates. One instance is shared by all workers; Run may be called from
// several threads at once (each worker with its own sink and token).
class Pipeline {
 public:
  virtual ~Pipeline() = default;
  // Runs one job to the end. Returns the token's status (CANCELLED / DEADLINE_EXCEEDED) if it
  // stopped early, RESOURCE_EXHAUSTED on device OOM, INVALID_ARGUMENT / FAILED_PRECONDITION for
  // requests it cannot serve.
  virtual absl::StatusOr<GenerationResult> Run(const GenerationRequest& request, ProgressSink& sink,
                                               const CancelToken& cancel) = 0;
  // Device memory the job would need beyond what is already resident, for admission. Errors
  // like Run's for requests it can already tell are invalid. Cheap: headers, not contents.
  virtual absl::StatusOr<uint64_t> EstimateVram(const GenerationRequest& request) const = 0;
  // Admission's checks that cost real work (decoding the first frame), run after the cheap
  // refusals (the VRAM budget, a full queue), so that a request Run would refuse for its
  // contents is refused before it waits in the queue. May skip a check it cannot afford now
  // (Run still refuses the request then). INVALID_ARGUMENT like Run's.
  virtual absl::Status CheckContents(const GenerationRequest& request) const {
    (void)request;
    return absl::OkStatus();
  }
};

}  // namespace ovid
