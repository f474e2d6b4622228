// File: engine/pipeline/components.cc
#include "engine/pipeline/components.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/umt5/umt5_encoder.h"
#include "engine/models/wan_vae/wan_vae.h"
#include "engine/pipeline/audio_stage.h"
#include "engine/pipeline/gguf_tokenizer.h"
#include "engine/pipeline/output_stage.h"
#include "ovid/engine_log.h"

namespace ovid::pipeline {
namespace {

LinearMode LinearModeFor(WeightMode mode) {
  return mode == WeightMode::kEager ? LinearMode::kEager : LinearMode::kLazy;
}

// The tokenizer file if given, else the vocabulary the encoder's GGUF carries.
absl::StatusOr<text::Tokenizer> LoadTokenizer(const ComponentFiles& files, int64_t text_len) {
  if (!files.tokenizer.empty()) return text::Tokenizer::FromFile(files.tokenizer, text_len);
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(files.text_encoder);
  if (!file.ok()) return InFile(file.status(), files.text_encoder);
  absl::StatusOr<text::TokenizerVocabulary> vocabulary = ReadGgufTokenizer(**file);
  if (absl::IsNotFound(vocabulary.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(files.text_encoder,
                     " carries no tokenizer: pass google/umt5-xxl's spiece.model with "
                     "--tokenizer"));
  }
  if (!vocabulary.ok()) return vocabulary.status();
  if (vocabulary->precompiled_charsmap.empty()) {
    // Without the rules the text is not NFKC-normalized: ids differ from the original for
    // ligatures, fullwidth forms, combining accents (README "Prompt text").
    EngineLog(
        EngineLogLevel::kWarning,
        absl::StrCat(files.text_encoder,
                     ": the tokenizer has no normalization rules "
                     "(tokenizer.ggml.precompiled_charsmap); prompts are not NFKC-normalized, "
                     "pass --tokenizer spiece.model for the original's ids"));
  }
  return text::Tokenizer::FromVocabulary(*vocabulary, files.text_encoder, text_len);
}

absl::Status LoadText(const PipelineOptions& options, c10::Device device,
                      const DenoiserShape& denoiser, Components* c) {
  const ComponentFiles& files = options.components;
  if (files.text_encoder.empty()) {
    if (!files.tokenizer.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("the tokenizer ", files.tokenizer,
                                                     " needs a UMT5 encoder (--text-encoder)"));
    }
    return absl::OkStatus();
  }
  OVID_ASSIGN_OR_RETURN(text::Tokenizer tokenizer, LoadTokenizer(files, denoiser.text_len));
  c->tokenizer = std::make_unique<text::Tokenizer>(std::move(tokenizer));
  OVID_ASSIGN_OR_RETURN(c->tag_style, text::AudioTagStyleForVariant(denoiser.variant));

  umt5::Umt5EncoderOptions eo;
  eo.device = device;
  eo.load.mode = LinearModeFor(options.weights);
  eo.max_tokens = denoiser.text_len;
  eo.default_workspace = false;  // the worker slots bind theirs, sized for it too
  const std::string path = files.text_encoder;
  // The cross-checks run at every load: an offloaded encoder is reopened by path per job, and
  // the file may have been replaced since startup.
  c->text_encoder.ConfigureFile(
      path,
      [eo, model = options.model_path, text_dim = denoiser.text_dim,
       pieces = c->tokenizer->vocab_size(),
       tokenizer = files.tokenizer](const std::string& f)
          -> absl::StatusOr<std::unique_ptr<umt5::Umt5Encoder>> {
        OVID_ASSIGN_OR_RETURN(std::unique_ptr<umt5::Umt5Encoder> encoder,
                              umt5::Umt5Encoder::Load(f, eo));
        if (encoder->config().d_model != text_dim) {
          return absl::InvalidArgumentError(absl::StrCat(
              f, ": the text encoder's width (d_model) is ", encoder->config().d_model,
              " but the denoiser ", model, " takes text_dim ", text_dim));
        }
        if (pieces > encoder->config().vocab) {
          return absl::InvalidArgumentError(absl::StrCat(
              tokenizer.empty() ? f : tokenizer, ": the tokenizer has ", pieces,
              " pieces but the text encoder ", f, " embeds only ", encoder->config().vocab));
        }
        return encoder;
      },
      options.offload.text_encoder, device);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<umt5::Umt5Encoder> encoder, c->text_encoder.Acquire());
  c->text_encoder_workspace_bytes = encoder->WorkspaceBytes();
  if (options.offload.text_encoder) {
    c->text_encoder_transient_bytes =
        static_cast<uint64_t>(encoder->store().Accounting().weight_bytes);
  }
  return absl::OkStatus();
}

}  // namespace

VideoVaeNumerics VideoVaeNumericsFor(const DecodeSettings& decode) {
  if (decode.video_vae_bf16) return {at::kBFloat16, false};  // bf16 weights: nothing to round
  return {at::kFloat, true};
}

namespace {

absl::Status LoadVideoVae(const PipelineOptions& options, c10::Device device,
                          const DenoiserShape& denoiser, Components* c) {
  const std::string path = options.components.video_vae;
  if (path.empty()) return absl::OkStatus();
  wan_vae::WanVaeOptions vo;
  vo.device = device;
  const VideoVaeNumerics numerics = VideoVaeNumericsFor(options.decode);
  vo.dtype = numerics.dtype;
  vo.round_through_bf16 = numerics.round_through_bf16;
  // Checked at every load (an offloaded VAE is reloaded per job): the up stages, inferred from
  // which tensors are present, must scale latents as the denoiser's plan does.
  c->video_vae.ConfigureFile(
      path,
      [vo, model = options.model_path, channels = denoiser.video_latent_channels](
          const std::string& f) -> absl::StatusOr<std::unique_ptr<wan_vae::WanVae>> {
        OVID_ASSIGN_OR_RETURN(std::unique_ptr<wan_vae::WanVae> vae, wan_vae::WanVae::Load(f, vo));
        const wan_vae::WanVaeConfig& vc = vae->config();
        if (vc.z_dim != channels) {
          return absl::InvalidArgumentError(
              absl::StrCat(f, ": the video VAE's latent has ", vc.z_dim,
                           " channels but the denoiser ", model, " makes ", channels));
        }
        if (vc.TemporalFactor() != 4 || vc.SpatialFactor() != 16) {
          return absl::InvalidArgumentError(absl::StrCat(
              f, ": the video VAE's decoder scales latents by ", vc.TemporalFactor(),
              " in time and ", vc.SpatialFactor(), " in space; Ovi's latents need 4 and 16 "
              "(an upsampling or time_conv tensor missing from the file?)"));
        }
        return vae;
      },
      options.offload.video_vae, device);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<wan_vae::WanVae> vae, c->video_vae.Acquire());
  c->video_vae_has_encoder = vae->has_encoder();
  if (options.offload.video_vae) {
    c->video_vae_transient_bytes = static_cast<uint64_t>(vae->parameter_bytes());
  }
  return absl::OkStatus();
}

absl::Status LoadAudio(const PipelineOptions& options, c10::Device device,
                       const DenoiserShape& denoiser, Components* c) {
  const ComponentFiles& files = options.components;
  if (files.audio_vae.empty() && files.vocoder.empty()) return absl::OkStatus();
  if (files.audio_vae.empty() || files.vocoder.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audio decoding needs both files: ",
        files.audio_vae.empty() ? "an MMAudio VAE (--audio-vae) for the vocoder "
                                : "a vocoder (--vocoder, BigVGAN) for the MMAudio VAE ",
        files.audio_vae.empty() ? files.vocoder : files.audio_vae));
  }
  const bool bf16 = options.decode.audio_bf16;
  c->audio.Configure(
      [files, device, bf16, model = options.model_path,
       channels = denoiser.audio_latent_channels]()
          -> absl::StatusOr<std::unique_ptr<AudioDecoders>> {
        OVID_ASSIGN_OR_RETURN(std::unique_ptr<AudioDecoders> audio,
                              LoadAudioDecoders(files, device, bf16));
        if (audio->latent_channels() != channels) {
          return absl::InvalidArgumentError(
              absl::StrCat(files.audio_vae, ": the audio VAE's latent has ",
                           audio->latent_channels(), " channels but the denoiser ", model,
                           " makes ", channels));
        }
        return audio;
      },
      options.offload.audio, device);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<AudioDecoders> audio, c->audio.Acquire());
  if (options.offload.audio) c->audio_transient_bytes = audio->parameter_bytes();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Components>> LoadComponents(const PipelineOptions& options,
                                                           c10::Device device,
                                                           const DenoiserShape& denoiser) {
  auto c = std::make_unique<Components>();
  c->media = MediaAvailable();
  OVID_RETURN_IF_ERROR(LoadText(options, device, denoiser, c.get()));
  OVID_RETURN_IF_ERROR(LoadVideoVae(options, device, denoiser, c.get()));
  OVID_RETURN_IF_ERROR(LoadAudio(options, device, denoiser, c.get()));
  return c;
}

void DescribeComponents(const PipelineOptions& options, const Components& c,
                        std::vector<StageDescription>* stages) {
  auto base = [](const std::string& path) {
    return path.empty() ? std::string() : std::filesystem::path(path).filename().string();
  };
  const ComponentFiles& f = options.components;
  stages->push_back({"text_encoder", c.has_text(), options.offload.text_encoder && c.has_text(),
                     base(f.text_encoder)});
  stages->push_back({"video_vae", c.has_video_decoder(),
                     options.offload.video_vae && c.has_video_decoder(), base(f.video_vae)});
  stages->push_back({"audio_vae", c.has_audio_decoder(),
                     options.offload.audio && c.has_audio_decoder(), base(f.audio_vae)});
  stages->push_back({"vocoder", c.has_audio_decoder(),
                     options.offload.audio && c.has_audio_decoder(), base(f.vocoder)});
}

}  // namespace ovid::pipeline
