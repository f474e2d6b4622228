// File: engine/pipeline/audio_stage.cc
#include "engine/pipeline/audio_stage.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/bigvgan/bigvgan.h"
#include "engine/models/mmaudio_vae/mmaudio_vae.h"
#include "engine/ops/torch_status.h"

namespace ovid::pipeline {

AudioDecoders::AudioDecoders() = default;
AudioDecoders::~AudioDecoders() = default;

int64_t AudioDecoders::latent_channels() const { return vae->config().embed_dim; }

uint64_t AudioDecoders::parameter_bytes() const {
  return static_cast<uint64_t>(vae->parameter_bytes() + vocoder->parameter_bytes());
}

absl::StatusOr<std::unique_ptr<AudioDecoders>> LoadAudioDecoders(const ComponentFiles& files,
                                                                  c10::Device device, bool bf16) {
  audio::AudioModelOptions o;
  o.device = device;
  o.dtype = bf16 ? at::kBFloat16 : at::kFloat;
  auto decoders = std::make_unique<AudioDecoders>();
  OVID_ASSIGN_OR_RETURN(decoders->vae, mmaudio_vae::MmAudioVae::Load(files.audio_vae, o));
  OVID_ASSIGN_OR_RETURN(decoders->vocoder, bigvgan::BigVgan::Load(files.vocoder, o));
  // The VAE's mel must be what the vocoder takes.
  const int64_t mels = decoders->vae->config().data_dim;
  const int64_t wanted = decoders->vocoder->config().num_mels;
  if (mels != wanted) {
    return absl::InvalidArgumentError(absl::StrCat(
        files.vocoder, ": the vocoder takes ", wanted, " mel bins but the audio VAE ",
        files.audio_vae, " makes ", mels));
  }
  // The upsampling both infer from which tensors are present must give Ovi's 512 samples per
  // latent, or the audio comes out shorter or longer than the video it is muxed with.
  const int64_t per_latent =
      decoders->vae->config().LengthFactor() * decoders->vocoder->config().HopLength();
  if (per_latent != kAudioSamplesPerLatent) {
    return absl::InvalidArgumentError(absl::StrCat(
        files.audio_vae, " and ", files.vocoder, ": together they make ", per_latent,
        " samples per audio latent (", decoders->vae->config().LengthFactor(),
        " mel frames x hop ", decoders->vocoder->config().HopLength(), "); Ovi's audio needs ",
        kAudioSamplesPerLatent, " (an upsampling tensor missing from a file?)"));
  }
  return decoders;
}

absl::StatusOr<at::Tensor> DecodeAudio(const AudioDecoders& audio, const at::Tensor& latents) {
  OVID_ASSIGN_OR_RETURN(at::Tensor mel, audio.vae->Decode(latents));
  OVID_ASSIGN_OR_RETURN(at::Tensor wave, audio.vocoder->Vocode(mel));
  return ops::GuardTorch("audio output", [&] { return wave.to(at::kCPU).contiguous(); });
}

}  // namespace ovid::pipeline
