// File: engine/pipeline/vram_estimate.h
// Device memory one generation job needs beyond the resident weights, for admission control.
// Torch-free (a formula over the config and the token counts), so the tests can check it at
// the full model's sizes without loading it.
//
// The formula (e = bytes per activation element: 2 for bf16 on CUDA, 4 for f32 on the CPU):
//   forward  = context + fixed + tokens * (31/4 * dim + 2 * ffn_dim) * e
//              + audio_tokens * 3 * convmlp_hidden * e + attention
//     context   one prepared text context: 2 towers * layers * (K + V) * text_len * dim * e
//     fixed     384 MiB: cuBLAS workspaces, the caching allocator's rounding, transients of
//               the text embedding; the part of the calibration intercept the context leaves
//     tokens    video tokens F*(h/2)*(w/2) + audio tokens L; per token ~7.75 model-width
//               tensors (residual, normed input, q/k/v, attention out, modulated input, RoPE
//               temporaries) and the FFN hidden twice (before and after GELU)
//     attention flash/efficient SDPA keeps only a log-sum-exp per head and query: 8 B
//   batched  with batch_guidance (and a negative pass) the token-proportional terms count
//            1.5 times: the second sample added 0.70 GiB at 704x704 5 s and 2.51 GiB at
//            960x960 10 s to the peak (H100, lazy Q4_K_M, ovid-forward --mode sample), 49-50 KB
//            per token, half the one-pass slope, as not every transient at the peak doubles.
//            The stacked text K/V of one block (2 towers * 2 samples * (K + V) * text_len *
//            dim * e, 25 MB at full size) is a transient inside `fixed`.
//   job      = (forward + context of the negative pass + sampler state) * 1.05
//     sampler state per latent element: noise, state, two UniPC history entries and the two
//               pass outputs in e, plus the float32 guided velocity, x0 and the solver result
//     1.05      margin for fragmentation between jobs of different sizes
// The per-worker dequant workspace is resident (loaded once per worker), so it is not counted.
//
// Calibration (H100, full model, lazy Q4_K_M, one forward pass with one context, ovid-forward):
// peak 10.2 GiB at 704x704 5 s (15,004 + 157 tokens) and 14.1 GiB at 960x960 10 s (54,900 +
// 314 tokens) with ~8.0 GiB resident weights; the slope between them is 104,551 B/token
// (31/4 * dim + 2 * ffn_dim elements at e = 2 is 104,960) and the formula's forward term lands
// within 1% of both points (tests/pipeline checks 10%).
#pragma once

#include <cstdint>

namespace ovid::pipeline {

struct VramEstimateInputs {
  int64_t dim = 3072;
  int64_t ffn_dim = 14336;
  int64_t heads = 24;
  int64_t layers = 30;
  int64_t text_len = 512;
  int64_t audio_convmlp_hidden = 8192;
  int64_t element_bytes = 2;  // activation dtype size
  int64_t video_tokens = 0;
  int64_t audio_tokens = 0;
  int64_t video_latent_elements = 0;  // 48 * F * h * w
  int64_t audio_latent_elements = 0;  // L * 20
  bool negative_pass = true;          // false when both guidance scales are 1
  bool batch_guidance = false;        // both passes in one batch-2 forward (with negative_pass)
};

// One denoiser forward pass with one prepared context (what the calibration measured).
uint64_t EstimateForwardBytes(const VramEstimateInputs& in);
// A whole job: the forward pass, the second context, the sampler state, and the margin.
uint64_t EstimateJobBytes(const VramEstimateInputs& in);

// The stages around the denoiser. Each runs after the previous one has released its tensors,
// so a job's need is the largest stage (EstimatePipelineBytes), plus, for a stage that is
// offloaded, its weights while it is loaded.
//   text     UMT5 on up to 3 prompts of text_len tokens: per token ~2 d_ff + 6 d_model
//            activation elements, plus f32 attention scores (heads x text_len^2 per prompt);
//            about 0.3 GB at UMT5-XXL's size, so a fixed 512 MiB covers it.
//   video    Wan2.2 VAE decode of one chunk: the causal caches (2 frames per conv input,
//            independent of the clip's length) and the chunk's transients, both proportional to
//            the decoder's last-stage area (H/2 x W/2): caches 10,800 elements per such pixel
//            and 3,300 per output frame of the chunk, times the VAE's element size (measured on
//            an H200: 24k elements per pixel at one latent frame per chunk, f32, at 704x704 and
//            960x960; the split follows spec encoders.md §3.6); the output goes to the host
//            chunk by chunk.
//   audio    MMAudio VAE + BigVGAN on at most ~10 s: a fixed 512 MiB.
struct StageEstimateInputs {
  int64_t width = 0;
  int64_t height = 0;
  int64_t vae_chunk_frames = 1;
  int64_t vae_element_bytes = 4;
  bool text = false;   // the job runs the text encoder
  bool video = false;  // ... the video decoder (or the encoder for its first frame)
  bool audio = false;  // ... the audio decoders
  uint64_t text_weights = 0;   // offloaded stages' weights while loaded; 0 when resident
  uint64_t video_weights = 0;
  uint64_t audio_weights = 0;
};

uint64_t EstimateVideoDecodeBytes(const StageEstimateInputs& in);
// max(denoise job, each stage the job runs (with its transient weights)).
uint64_t EstimatePipelineBytes(uint64_t denoise_job_bytes, const StageEstimateInputs& in);

}  // namespace ovid::pipeline
