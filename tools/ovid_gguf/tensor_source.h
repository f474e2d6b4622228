// File: tools/ovid_gguf/tensor_source.h
// The tensors of an input file, whatever its format: a torch.save checkpoint (.pth/.pt; told by
// its zip signature, not its extension), safetensors or GGUF. Data stays in the file's mapping
// until a writer asks for one tensor; only non-contiguous .pth tensors are copied.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/safetensors_file.h"
#include "tools/ovid_gguf/key_report.h"

namespace ovid::tools {

struct SourceTensor {
  std::string name;
  std::vector<int64_t> shape;          // PyTorch order
  std::optional<gguf::StDtype> dtype;  // nullopt for a quantized GGUF tensor
  std::string type_name;               // "BF16", "Q4_K"
  // The tensor's bytes in row-major order: a view into the mapping, or `*scratch` filled.
  std::function<std::span<const uint8_t>(std::vector<uint8_t>* scratch)> data;
};

struct TensorSource {
  std::string path;
  std::string format;  // "pth", "safetensors", "gguf"
  std::vector<SourceTensor> tensors;
  size_t skipped = 0;               // non-tensor values under a .pth selection
  std::shared_ptr<void> keepalive;  // the open file the views point into

  std::vector<NamedShape> Shapes() const;
};

// Opens `path`. `select`: for a .pth, a dotted path of dict keys to read the state dict from
// ("generator"); for safetensors and GGUF, a name prefix that is kept and stripped
// ("generator" keeps "generator.x" as "x"). Errors name the file.
absl::StatusOr<TensorSource> OpenTensorSource(const std::string& path, std::string_view select);

}  // namespace ovid::tools
