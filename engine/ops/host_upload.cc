// File: engine/ops/host_upload.cc
#include "engine/ops/host_upload.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Device.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "engine/ops/device_index.h"
#include "engine/ops/torch_status.h"
#include "kernels/cpu/work_shares.h"

#ifdef OVID_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#endif

namespace ovid::ops {
namespace {

// Reading the mapping (page-cache copies, page faults) is what bounds the upload: one thread
// managed ~6.6 GB/s on the H200 machine, far below PCIe. Split big chunks over a few threads.
void ParallelCopy(uint8_t* dst, const uint8_t* src, size_t n) {
  constexpr int64_t kMinPerThread = int64_t{8} << 20;
  const int64_t bytes = static_cast<int64_t>(n);
  RunInShares(bytes, UsefulThreads(bytes, kMinPerThread, 4), [=](int64_t first, int64_t last) {
    std::memcpy(dst + first, src + first, static_cast<size_t>(last - first));
  });
}

#ifdef OVID_TORCH_CUDA
// One stream per device for every upload, created for it and never destroyed. LibTorch's pool
// hands out its 32 streams round-robin, so a pool stream could be a worker slot's: an offloaded
// stage reloading for one job would then queue its copies behind another job's kernels, and
// Finish() would wait for them. Never destroyed because the allocator records uses of the
// uploaded tensors on it (record_stream) and replays them when they are freed.
absl::StatusOr<c10::cuda::CUDAStream> UploadStream(c10::DeviceIndex index) {
  static std::mutex mu;
  static std::map<c10::DeviceIndex, cudaStream_t> streams;
  const std::lock_guard<std::mutex> lock(mu);
  auto it = streams.find(index);
  if (it == streams.end()) {
    cudaStream_t s = nullptr;
    const cudaError_t err = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
      return absl::ResourceExhaustedError(std::string("creating the weight upload stream: ") +
                                          cudaGetErrorString(err));
    }
    it = streams.emplace(index, s).first;
  }
  return c10::cuda::getStreamFromExternal(it->second, index);
}
#endif

}  // namespace

struct HostUploader::Impl {
  c10::Device device{c10::kCPU};
  int64_t staging_bytes = 0;
#ifdef OVID_TORCH_CUDA
  std::optional<c10::cuda::CUDAStream> copy_stream;
  std::array<at::Tensor, 2> staging;        // pinned host buffers
  std::array<at::cuda::CUDAEvent, 2> done;  // recorded after each buffer's last copy
  int next = 0;
#endif
};

HostUploader::HostUploader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HostUploader::~HostUploader() {
  // Pinned buffers must not be freed under an in-flight copy; errors here have nowhere to go.
  (void)Finish();
}

absl::StatusOr<std::unique_ptr<HostUploader>> HostUploader::Create(const c10::Device& device,
                                                                   int64_t staging_bytes) {
  auto impl = std::make_unique<Impl>();
  impl->device = WithIndex(device);  // compared with each destination tensor's device
  impl->staging_bytes = std::max<int64_t>(staging_bytes, 1 << 20);
  if (device.is_cpu()) return std::unique_ptr<HostUploader>(new HostUploader(std::move(impl)));
#ifdef OVID_TORCH_CUDA
  if (device.is_cuda()) {
    absl::Status s = GuardTorch("allocating pinned staging buffers", [&]() -> absl::Status {
      const c10::cuda::CUDAGuard guard(impl->device);
      absl::StatusOr<c10::cuda::CUDAStream> stream = UploadStream(impl->device.index());
      if (!stream.ok()) return stream.status();
      impl->copy_stream = *stream;
      for (at::Tensor& buffer : impl->staging) {
        buffer = at::empty({impl->staging_bytes},
                           at::TensorOptions().dtype(at::kByte).pinned_memory(true));
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return std::unique_ptr<HostUploader>(new HostUploader(std::move(impl)));
  }
#endif
  return absl::UnimplementedError("cannot upload weights to device " + device.str());
}

absl::StatusOr<at::Tensor> HostUploader::Upload(std::span<const uint8_t> src) {
  absl::StatusOr<at::Tensor> dst = GuardTorch("allocating device memory for weights", [&] {
    return at::empty({static_cast<int64_t>(src.size())},
                     at::TensorOptions().dtype(at::kByte).device(impl_->device));
  });
  if (!dst.ok()) return dst.status();
  if (absl::Status s = UploadInto(src, *dst); !s.ok()) return s;
  return dst;
}

absl::Status HostUploader::UploadInto(std::span<const uint8_t> src, const at::Tensor& dst) {
  Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(src.size());
  if (!dst.defined() || dst.scalar_type() != at::kByte || !dst.is_contiguous() ||
      dst.numel() != n || dst.device() != m.device) {
    return absl::InvalidArgumentError("upload destination must be contiguous uint8 of " +
                                      std::to_string(n) + " bytes on " + m.device.str());
  }
  return GuardTorch("uploading weights", [&]() -> absl::Status {
    if (m.device.is_cpu()) {
      if (n > 0)
        ParallelCopy(static_cast<uint8_t*>(dst.mutable_data_ptr()), src.data(), src.size());
      bytes_uploaded_ += n;
      return absl::OkStatus();
    }
#ifdef OVID_TORCH_CUDA
    const c10::cuda::CUDAGuard guard(m.device);
    for (int64_t offset = 0; offset < n; offset += m.staging_bytes) {
      const int64_t len = std::min(m.staging_bytes, n - offset);
      const int i = m.next;
      m.next ^= 1;
      // The copy that last read this buffer must be done before the host overwrites it; the
      // other buffer's copy keeps running meanwhile.
      m.done[i].synchronize();
      ParallelCopy(static_cast<uint8_t*>(m.staging[i].mutable_data_ptr()), src.data() + offset,
                   static_cast<size_t>(len));
      {
        const c10::cuda::CUDAStreamGuard stream_guard(*m.copy_stream);
        dst.narrow(0, offset, len).copy_(m.staging[i].narrow(0, 0, len), /*non_blocking=*/true);
      }
      m.done[i].record(*m.copy_stream);
    }
    // dst was allocated on the current stream but written on the copy stream; Finish() syncs the
    // copy stream before anyone reads it, and the allocator must not recycle it early.
    if (n > 0) dst.record_stream(*m.copy_stream);
    bytes_uploaded_ += n;
    return absl::OkStatus();
#else
    return absl::UnimplementedError("LibTorch was built without CUDA");
#endif
  });
}

absl::Status HostUploader::Finish() {
#ifdef OVID_TORCH_CUDA
  if (impl_ && impl_->copy_stream.has_value()) {
    return GuardTorch("waiting for weight uploads", [&] { impl_->copy_stream->synchronize(); });
  }
#endif
  return absl::OkStatus();
}

}  // namespace ovid::ops
