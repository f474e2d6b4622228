// File: bench/pipeline/pipeline_bench.cc
// `ovid-pipeline-bench`: the whole generation pipeline as the daemon runs it (LoadOviPipeline +
// Run), one stage table per run: seconds and the device's peak allocation during each stage
// (weights resident at that moment included). Decode stages run for the LATENTS-only jobs it
// submits (BenchOptions::decode_latents_jobs), so the figures exist on a GPU machine whose build
// has no MP4 encoder; muxing is CPU work and is measured on its own elsewhere.
//
// usage: ovid-pipeline-bench --model M [--text-encoder F --tokenizer F] [--vae F]
//          [--audio-vae F --vocoder F] [--offload text,vae,audio] [--vae-dtype f32|bf16]
//          [--audio-dtype f32|bf16] [--vae-chunk-frames N] [--steps N] [--runs N]
//          [--width W --height H] [--device D]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "ovid/ovi_pipeline.h"

namespace {

class QuietSink : public ovid::ProgressSink {
 public:
  void OnProgress(const ovid::Progress&) override {}
  void OnOutput(ovid::Output) override {}
};

int Usage(const char* why) {
  std::fprintf(stderr, "ovid-pipeline-bench: %s (see the header of bench/pipeline/pipeline_bench.cc)\n",
               why);
  return 2;
}

double MiB(uint64_t b) { return static_cast<double>(b) / (1 << 20); }

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  if (argc % 2 != 1 || !a.count("--model")) return Usage("expected --model and flag/value pairs");
  auto get = [&](const char* k, const char* d = "") { return a.count(k) ? a[k] : std::string(d); };
  auto num = [&](const char* k, uint32_t d) {
    uint32_t v = d;
    if (a.count(k) && !absl::SimpleAtoi(a[k], &v)) std::exit(Usage(k));
    return v;
  };

  ovid::PipelineOptions o;
  o.model_path = get("--model");
  o.device = get("--device", "cuda");
  o.components.text_encoder = get("--text-encoder");
  o.components.tokenizer = get("--tokenizer");
  o.components.video_vae = get("--vae");
  o.components.audio_vae = get("--audio-vae");
  o.components.vocoder = get("--vocoder");
  for (absl::string_view s : absl::StrSplit(get("--offload"), ',', absl::SkipEmpty())) {
    if (s == "text") o.offload.text_encoder = true;
    else if (s == "vae") o.offload.video_vae = true;
    else if (s == "audio") o.offload.audio = true;
    else if (s == "denoiser") o.offload.denoiser = true;
    else return Usage("--offload takes text, vae, audio, denoiser");
  }
  o.decode.video_vae_bf16 = get("--vae-dtype", "f32") == "bf16";
  o.decode.audio_bf16 = get("--audio-dtype", "f32") == "bf16";
  o.decode.vae_chunk_frames = num("--vae-chunk-frames", 1);
  o.bench.decode_latents_jobs = true;

  const auto load_start = std::chrono::steady_clock::now();
  auto pipeline = ovid::LoadOviPipeline(o);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(pipeline.status().message()).c_str());
    return 1;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const ovid::VramSnapshot v = (*pipeline)->Vram();
  std::printf(
      "load %.1f s; after load: torch allocated %.0f MiB, reserved %.0f MiB, device used %.0f "
      "MiB of %.0f\n",
      load_s, MiB(v.torch_allocated_bytes), MiB(v.torch_reserved_bytes), MiB(v.device_used_bytes),
      MiB(v.device_total_bytes));

  ovid::GenerationRequest r;
  const bool prompt = !o.components.text_encoder.empty();
  if (!prompt) return Usage("the bench needs --text-encoder and --tokenizer (prompt jobs)");
  r.conditioning = std::string(
      "A woman in a red coat walks through a rainy city street at night, neon signs reflect in "
      "the puddles, she turns to the camera and says <S>It never stops raining here.<E> "
      "<AUDCAP>Rain on pavement, distant traffic, a woman's calm voice<ENDAUDCAP>");
  r.steps = num("--steps", 2);
  r.seed = 1;
  if (a.count("--width")) r.width = num("--width", 0);
  if (a.count("--height")) r.height = num("--height", 0);
  r.outputs = {ovid::OutputFormat::kLatents};
  const uint32_t runs = num("--runs", 2);
  // The admission estimate for this request, to set against the measured peaks below (which
  // include the resident weights the estimate leaves out).
  if (absl::StatusOr<uint64_t> e = (*pipeline)->EstimateVram(r); e.ok()) {
    std::printf("admission estimate %.0f MiB beyond the resident %.0f MiB\n", MiB(*e),
                MiB(v.torch_allocated_bytes));
  }
  for (uint32_t run = 1; run <= runs; ++run) {
    QuietSink sink;
    ovid::CancelToken cancel;
    const auto t0 = std::chrono::steady_clock::now();
    auto result = (*pipeline)->Run(r, sink, cancel);
    const double total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!result.ok()) {
      std::fprintf(stderr, "run %u: %s\n", run, std::string(result.status().message()).c_str());
      return 1;
    }
    const ovid::EffectiveParameters& p = result->parameters;
    std::printf("run %u: %ux%u, %u frames, %u samples, %u steps, total %.2f s, peak %.0f MiB\n",
                run, p.width, p.height, p.video_frames, p.audio_samples, p.steps, total,
                MiB(result->peak_vram_bytes));
    for (const ovid::StageTiming& s : result->stages) {
      std::printf("  %-13s %8.2f s  peak %8.0f MiB\n", s.stage.c_str(), s.seconds,
                  MiB(s.peak_vram_bytes));
    }
  }
  return 0;
}
