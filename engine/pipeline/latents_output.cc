// File: engine/pipeline/latents_output.cc
#include "engine/pipeline/latents_output.h"

#include <vector>

#include "engine/gguf/safetensors_writer.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"

namespace ovid::pipeline {

absl::StatusOr<std::string> SerializeLatents(const at::Tensor& video, const at::Tensor& audio,
                                             const std::map<std::string, std::string>& metadata) {
  // Host f32 copies; the copy waits for the device, so the latents are final here.
  OVID_ASSIGN_OR_RETURN(auto host, ops::GuardTorch("copying the latents", [&] {
                          return std::pair{video.to(at::kCPU, at::kFloat).contiguous(),
                                           audio.to(at::kCPU, at::kFloat).contiguous()};
                        }));
  auto entry = [](const char* name, const at::Tensor& t) {
    return gguf::SafetensorsEntry{
        name,
        "F32",
        t.sizes().vec(),
        {static_cast<const uint8_t*>(t.data_ptr()), static_cast<size_t>(t.nbytes())}};
  };
  const std::vector<gguf::SafetensorsEntry> entries = {entry("video_latent", host.first),
                                                       entry("audio_latent", host.second)};
  return gguf::SerializeSafetensors(entries, metadata);
}

}  // namespace ovid::pipeline
