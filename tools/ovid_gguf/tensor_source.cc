// File: tools/ovid_gguf/tensor_source.cc
#include "tools/ovid_gguf/tensor_source.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_limits.h"
#include "engine/gguf/pth_file.h"
#include "engine/gguf/status_macros.h"

namespace ovid::tools {
namespace {

// The first bytes of the file (the format is told by content, not by extension).
absl::StatusOr<std::vector<uint8_t>> Peek(const std::string& path, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::vector<uint8_t> head(n);
  head.resize(std::fread(head.data(), 1, n, f));
  std::fclose(f);
  return head;
}

// `name` under the prefix `select` ("" keeps everything): the stripped name, or nullopt.
std::optional<std::string> Under(const std::string& name, std::string_view select) {
  if (select.empty()) return name;
  const std::string prefix = absl::StrCat(std::string(select), ".");
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  return name.substr(prefix.size());
}

absl::Status NothingSelected(const TensorSource& src, std::string_view select) {
  if (!select.empty() && src.tensors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(src.path, ": --select ", std::string(select),
                                                   ": no tensor name starts with '",
                                                   std::string(select), ".'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorSource> OpenPth(const std::string& path, std::string_view select) {
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<gguf::PthFile> file, gguf::PthFile::Open(path));
  TensorSource src;
  src.path = path;
  src.format = "pth";
  OVID_ASSIGN_OR_RETURN(std::vector<gguf::PthTensor> tensors, file->Tensors(select, &src.skipped));
  for (gguf::PthTensor& t : tensors) {
    SourceTensor s{t.name, t.shape, t.dtype, gguf::StDtypeName(t.dtype), {}};
    s.data = [t = std::move(t)](std::vector<uint8_t>* scratch) {
      return gguf::PthFile::Contiguous(t, scratch);
    };
    src.tensors.push_back(std::move(s));
  }
  src.keepalive = std::move(file);
  return src;
}

absl::StatusOr<TensorSource> OpenSafetensors(const std::string& path, std::string_view select) {
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<gguf::SafetensorsFile> file,
                        gguf::SafetensorsFile::Open(path));
  TensorSource src;
  src.path = path;
  src.format = "safetensors";
  for (const gguf::SafetensorsTensor& t : file->tensors()) {
    std::optional<std::string> name = Under(t.name, select);
    if (!name) continue;
    SourceTensor s{*name, t.shape, t.dtype, gguf::StDtypeName(t.dtype), {}};
    const gguf::SafetensorsFile* f = file.get();
    s.data = [f, &t](std::vector<uint8_t>*) { return f->Data(t); };
    src.tensors.push_back(std::move(s));
  }
  src.keepalive = std::move(file);
  OVID_RETURN_IF_ERROR(NothingSelected(src, select));
  return src;
}

absl::StatusOr<TensorSource> OpenGguf(const std::string& path, std::string_view select) {
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  TensorSource src;
  src.path = path;
  src.format = "gguf";
  for (const gguf::TensorInfo& t : file->tensors()) {
    std::optional<std::string> name = Under(t.name, select);
    if (!name) continue;
    std::optional<gguf::StDtype> dtype;
    if (t.type == GgmlType::kF32) dtype = gguf::StDtype::kF32;
    if (t.type == GgmlType::kF16) dtype = gguf::StDtype::kF16;
    if (t.type == GgmlType::kBF16) dtype = gguf::StDtype::kBF16;
    SourceTensor s{*name, t.TorchShape(), dtype, GgmlTypeName(t.type), {}};
    const gguf::GgufFile* f = file.get();
    s.data = [f, &t](std::vector<uint8_t>*) { return f->TensorData(t); };
    src.tensors.push_back(std::move(s));
  }
  src.keepalive = std::move(file);
  OVID_RETURN_IF_ERROR(NothingSelected(src, select));
  return src;
}

}  // namespace

std::vector<NamedShape> TensorSource::Shapes() const {
  std::vector<NamedShape> out;
  out.reserve(tensors.size());
  for (const SourceTensor& t : tensors) out.push_back({t.name, t.shape});
  return out;
}

absl::StatusOr<TensorSource> OpenTensorSource(const std::string& path, std::string_view select) {
  OVID_ASSIGN_OR_RETURN(std::vector<uint8_t> head, Peek(path, 262));
  // Legacy torch.save files go to the .pth reader too, which refuses them by name.
  if (gguf::LooksLikePth(head) || gguf::LooksLikeLegacyTorchSave(head)) {
    return OpenPth(path, select);
  }
  if (head.size() >= 4) {
    uint32_t magic;
    std::memcpy(&magic, head.data(), 4);
    if (magic == gguf::kGgufMagic) return OpenGguf(path, select);
  }
  return OpenSafetensors(path, select);
}

}  // namespace ovid::tools
