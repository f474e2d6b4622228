// File: engine/models/audio/audio_weight_file.h
// The tensors of an audio decoder checkpoint, from safetensors or GGUF (told apart by the GGUF
// magic, not the file name). Only float tensors are read (safetensors F64/F32/F16/BF16/F8,
// GGUF F32/F16/BF16): the audio decoders are small (0.2-0.4 GB in f32) and their weights are
// folded (weight norm) at load, which a quantized block format would defeat. GGUF shapes are
// given in PyTorch order (ne reversed), so both formats share the same key tables and checks.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/models/audio/audio_tensor_check.h"

namespace ovid::audio {

class AudioWeightFile {
 public:
  static absl::StatusOr<std::unique_ptr<AudioWeightFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<NamedShape>& tensors() const { return shapes_; }  // file order
  // The tensor as a new f32 CPU tensor; errors name the file and tensor (absent, not a float).
  absl::StatusOr<at::Tensor> ReadF32(const std::string& name) const;

 private:
  AudioWeightFile() = default;
  std::string path_;
  std::unique_ptr<gguf::SafetensorsFile> st_;
  std::unique_ptr<gguf::GgufFile> gguf_;
  std::vector<NamedShape> shapes_;
};

// `fn()` (LibTorch code deriving a tensor from the file's data: a fold, a reshape) moved to
// `device` in `dtype`, contiguous. Anything LibTorch throws becomes a Status naming the file and
// the tensor.
absl::StatusOr<at::Tensor> PrepareTensor(const std::string& path, const std::string& tensor,
                                         c10::Device device, at::ScalarType dtype,
                                         const std::function<at::Tensor()>& fn);

}  // namespace ovid::audio
