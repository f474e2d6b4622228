// File: engine/models/audio/audio_tensor_check.h
// The whole-file tensor check of the audio decoders: compares what a file holds with what the
// model needs and returns ONE error naming the file and every missing, unexpected and misshaped
// tensor (at most 40 of each, so a wrong file gives a readable message). Tensors under an
// ignored prefix (MMAudio's encoder) are neither used nor unexpected. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ovid::audio {

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
};

struct ExpectedTensor {
  std::string file;                          // the name in the file
  std::vector<std::vector<int64_t>> shapes;  // any of these is accepted (first: canonical)
  bool optional = false;                     // absent is fine (BigVGAN's filter buffers)
};

std::string ShapeString(const std::vector<int64_t>& shape);  // "[80, 384, 3]"

// OK when every required tensor is present with an accepted shape and nothing else is there
// (apart from `ignored_prefixes`). `ignored` (if given) receives the names skipped that way.
// The error reads "<source>: tensors do not match the <model>: N missing: ...; N unexpected:
// ...; N misshaped: X is [..], expected [..]".
absl::Status CheckTensorSet(const std::vector<NamedShape>& actual,
                            const std::vector<ExpectedTensor>& expected,
                            const std::vector<std::string>& ignored_prefixes,
                            absl::string_view source, absl::string_view model,
                            std::vector<std::string>* ignored = nullptr);

}  // namespace ovid::audio
