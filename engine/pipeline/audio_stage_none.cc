// File: engine/pipeline/audio_stage_none.cc
// The audio stage of a build without the MMAudio VAE / BigVGAN libraries: --audio-vae and
// --vocoder are refused at start-up with this message.
#include "engine/pipeline/audio_stage.h"

// Complete (empty) types, so AudioDecoders' members can be destroyed here; the real classes are
// never linked into the same program as this file.
namespace ovid::mmaudio_vae {
class MmAudioVae {};
}  // namespace ovid::mmaudio_vae
namespace ovid::bigvgan {
class BigVgan {};
}  // namespace ovid::bigvgan

namespace ovid::pipeline {

AudioDecoders::AudioDecoders() = default;
AudioDecoders::~AudioDecoders() = default;
int64_t AudioDecoders::latent_channels() const { return 0; }
uint64_t AudioDecoders::parameter_bytes() const { return 0; }

absl::StatusOr<std::unique_ptr<AudioDecoders>> LoadAudioDecoders(const ComponentFiles& files,
                                                                  c10::Device, bool) {
  return absl::FailedPreconditionError(
      files.audio_vae + ": this build of ovid has no audio decoder (MMAudio VAE / BigVGAN)");
}

absl::StatusOr<at::Tensor> DecodeAudio(const AudioDecoders&, const at::Tensor&) {
  return absl::FailedPreconditionError("this build of ovid has no audio decoder");
}

}  // namespace ovid::pipeline
