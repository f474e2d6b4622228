#include "engine/models/audio/audio_weight_file.h"

#include <ATen/ops/empty.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/st_dtype.h"
#include "engine/ops/torch_status.h"

namespace ovid::audio {
namespace {

bool HasGgufMagic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// Copies `bytes` into an aligned buffer (neither format aligns data to its dtype for certain)
// and views it as `dtype` with `shape`, then converts to f32. Errors (out of memory: the readers
// checked the sizes) name the file and the tensor.
absl::StatusOr<at::Tensor> ToF32(const std::string& path, const std::string& name,
                                 std::span<const uint8_t> bytes, at::ScalarType dtype,
                                 const std::vector<int64_t>& shape) {
  absl::StatusOr<at::Tensor> t = ops::GuardTorch("reading an audio decoder tensor", [&] {
    at::Tensor raw = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
    std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());
    return raw.view(dtype).view(shape).to(at::kFloat);
  });
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": tensor ", name, ": ", t.status().message()));
  }
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AudioWeightFile>> AudioWeightFile::Open(const std::string& path) {
  std::unique_ptr<AudioWeightFile> f(new AudioWeightFile());
  f->path_ = path;
  if (HasGgufMagic(path)) {
    OVID_ASSIGN_OR_RETURN(f->gguf_, gguf::GgufFile::Open(path));
    for (const gguf::TensorInfo& t : f->gguf_->tensors()) f->shapes_.push_back({t.name, t.TorchShape()});
  } else {
    OVID_ASSIGN_OR_RETURN(f->st_, gguf::SafetensorsFile::Open(path));
    for (const gguf::SafetensorsTensor& t : f->st_->tensors()) f->shapes_.push_back({t.name, t.shape});
  }
  return f;
}

absl::StatusOr<at::Tensor> AudioWeightFile::ReadF32(const std::string& name) const {
  if (gguf_ != nullptr) {
    const gguf::TensorInfo* t = gguf_->FindTensor(name);
    if (t == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", name));
    at::ScalarType dtype;
    switch (t->type) {
      case GgmlType::kF32: dtype = at::kFloat; break;
      case GgmlType::kF16: dtype = at::kHalf; break;
      case GgmlType::kBF16: dtype = at::kBFloat16; break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": tensor ", name, " is ", GgmlTypeName(t->type),
                         ", expected F32, F16 or BF16 (audio decoder weights are not quantized)"));
    }
    return ToF32(path_, name, gguf_->TensorData(*t), dtype, t->TorchShape());
  }
  const gguf::SafetensorsTensor* t = st_->Find(name);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", name));
  const std::optional<at::ScalarType> dtype = ops::TorchFloatType(t->dtype);
  if (!dtype) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor ", name, " is ",
                                                   gguf::StDtypeName(t->dtype),
                                                   ", expected a float dtype"));
  }
  return ToF32(path_, name, st_->Data(*t), *dtype, t->shape);
}

absl::StatusOr<at::Tensor> PrepareTensor(const std::string& path, const std::string& tensor,
                                         c10::Device device, at::ScalarType dtype,
                                         const std::function<at::Tensor()>& fn) {
  absl::StatusOr<at::Tensor> t = ops::GuardTorch("preparing a weight", [&] {
    return fn().to(device, dtype).contiguous();
  });
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": tensor ", tensor, ": ", t.status().message()));
  }
  return t;
}

}  // namespace ovid::audio
