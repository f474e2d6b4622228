// File: engine/ops/host_upload.h
// Copies bytes from host memory (the memory-mapped GGUF) into device tensors through two pinned
// staging buffers: while the copy engine moves buffer A to the GPU on a dedicated copy stream,
// the host fills buffer B (which is where the file is actually read: page faults on the
// mapping). So disk/page-cache reads and PCIe transfers overlap, and pageable memory never
// reaches cudaMemcpy (which would stage it again, synchronously). On a CPU device it is a plain
// memcpy. Not thread-safe: one uploader per loading thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace at {
class Tensor;
}  // namespace at
namespace c10 {
struct Device;
}  // namespace c10

namespace ovid::ops {

class HostUploader {
 public:
  // `staging_bytes` per buffer (two are allocated, pinned, for CUDA devices).
  static absl::StatusOr<std::unique_ptr<HostUploader>> Create(const c10::Device& device,
                                                              int64_t staging_bytes);
  ~HostUploader();
  HostUploader(const HostUploader&) = delete;
  HostUploader& operator=(const HostUploader&) = delete;

  // A new contiguous uint8 tensor on the device holding `src`. The copy may still be in flight
  // when this returns: call Finish() before the tensor is used.
  absl::StatusOr<at::Tensor> Upload(std::span<const uint8_t> src);
  // The same into an existing contiguous uint8 tensor of exactly src.size() bytes on the device
  // (a slice of a weight arena).
  absl::Status UploadInto(std::span<const uint8_t> src, const at::Tensor& dst);

  // Waits until every copy has landed. Then the uploaded tensors may be used on any stream.
  absl::Status Finish();

  int64_t bytes_uploaded() const { return bytes_uploaded_; }

 private:
  struct Impl;
  explicit HostUploader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t bytes_uploaded_ = 0;
};

}  // namespace ovid::ops
