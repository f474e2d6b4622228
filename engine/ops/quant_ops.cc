// File: engine/ops/quant_ops.cc
#include "engine/ops/quant_ops.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "engine/ops/quant_kernels.h"
#include "engine/ops/torch_status.h"
#include "kernels/cpu/dequantize.h"
#include "ovid/engine_log.h"

#ifdef OVID_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#endif

namespace ovid::ops {
namespace {

absl::StatusOr<FloatFormat> FormatOf(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return FloatFormat::kF32;
    case at::kHalf:
      return FloatFormat::kF16;
    case at::kBFloat16:
      return FloatFormat::kBF16;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "dequantize output must be f32, f16 or bf16, not ", std::string(t.dtype().name())));
  }
}

// Shape/device/dtype checks shared by every entry point.
absl::Status CheckBlocks(GgmlType type, const at::Tensor& blocks, int64_t rows,
                         int64_t row_elements) {
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (info.block_size == 0 || !CanDequantize(type)) {
    return absl::UnimplementedError(
        absl::StrCat("ggml type ", info.name, " cannot be dequantized by ovid"));
  }
  if (rows < 0 || row_elements <= 0 || row_elements % info.block_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", info.name, " shape [", rows, ", ", row_elements,
                     "]: rows must hold whole blocks of ", info.block_size));
  }
  if (!blocks.defined() || blocks.scalar_type() != at::kByte || !blocks.is_contiguous()) {
    return absl::InvalidArgumentError("quantized blocks must be a contiguous uint8 tensor");
  }
  const int64_t want = rows * GgmlRowBytes(type, row_elements);
  if (blocks.numel() != want) {
    return absl::InvalidArgumentError(absl::StrCat("quantized blocks hold ", blocks.numel(),
                                                   " bytes; [", rows, ", ", row_elements, "] of ",
                                                   info.name, " needs ", want));
  }
  return absl::OkStatus();
}

// Host fallback for a CUDA tensor whose format has no CUDA kernel (yet): copy the blocks down,
// expand them with the CPU reference, copy the result up. Correct but slow; said once.
absl::Status DequantizeViaHost(GgmlType type, const at::Tensor& blocks, int64_t rows,
                               int64_t row_elements, FloatFormat format, const at::Tensor& out) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    EngineLog(EngineLogLevel::kWarning,
              absl::StrCat("no CUDA dequantize kernel for ", GgmlTypeName(type),
                           "; dequantizing on the host"));
  }
  return GuardTorch("dequantize via host", [&]() -> absl::Status {
    const at::Tensor host_blocks = blocks.cpu();
    const int64_t n = rows * row_elements;
    at::Tensor host_out = at::empty({n}, out.options().device(at::kCPU));
    if (!DequantizeTensor(type, host_blocks.const_data_ptr(), host_out.mutable_data_ptr(), format,
                          rows, row_elements)) {
      return absl::UnimplementedError(absl::StrCat("cannot dequantize ", GgmlTypeName(type)));
    }
    out.view({-1}).narrow(0, 0, n).copy_(host_out);
    return absl::OkStatus();
  });
}

#ifdef OVID_TORCH_CUDA
// `t` contiguous and starting on a 16-byte boundary, as the CUDA kernels want their pointers: a
// contiguous view into a larger tensor may start anywhere, and those (rare: weights live in an
// aligned arena, activations are fresh tensors) are copied rather than refused.
at::Tensor Aligned16(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return reinterpret_cast<uintptr_t>(c.const_data_ptr()) % 16 == 0 ? c : c.clone();
}
#endif

}  // namespace

bool CanDequantize(GgmlType type) { return GgmlInfo(type).dequantizable; }

absl::Status CheckKernelsRunOn(c10::Device device) {
  const QuantKernels& k = CudaQuantKernels();
  if (!device.is_cuda() || k.runs_here == nullptr) return absl::OkStatus();
#ifdef OVID_TORCH_CUDA
  return GuardTorch("checking the CUDA kernels", [&]() -> absl::Status {
    const c10::cuda::CUDAGuard guard(device);
    const int err = k.runs_here();
    if (err == 0) return absl::OkStatus();
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, device.has_index() ? device.index() : 0) != cudaSuccess) {
      cudaGetLastError();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("this build's CUDA kernels have no code for ", p.name, " (compute capability ",
                     p.major, ".", p.minor, "): ", k.error_string(err),
                     "; rebuild with OVID_CUDA_ARCHS including ", p.major, p.minor));
  });
#else
  return absl::OkStatus();
#endif
}

bool HasFusedMatmul(GgmlType type) {
  const QuantKernels& k = CudaQuantKernels();
  return k.qmatmul != nullptr && k.qmatmul_supports != nullptr && k.qmatmul_supports(type);
}

bool HasPanelFusedMatmul(GgmlType type, int64_t k) {
  const QuantKernels& t = CudaQuantKernels();
  return HasFusedMatmul(type) && t.qmatmul_panel_supports != nullptr &&
         t.qmatmul_panel_supports(type, k);
}

absl::Status DequantizeInto(GgmlType type, const at::Tensor& blocks, int64_t rows,
                            int64_t row_elements, const at::Tensor& out, DequantUse use) {
  if (absl::Status s = CheckBlocks(type, blocks, rows, row_elements); !s.ok()) return s;
  absl::StatusOr<FloatFormat> format = FormatOf(out);
  if (!format.ok()) return format.status();
  if (!out.is_contiguous() || out.numel() < rows * row_elements) {
    return absl::InvalidArgumentError(
        absl::StrCat("dequantize output must be contiguous with at "
                     "least ",
                     rows * row_elements, " elements"));
  }
  if (out.device() != blocks.device()) {
    return absl::InvalidArgumentError(absl::StrCat("dequantize output on ", out.device().str(),
                                                   " but blocks on ", blocks.device().str()));
  }
  if (rows == 0) return absl::OkStatus();

  if (blocks.is_cpu()) {
    // CPU: the bit-exact reference, multi-threaded over rows.
    if (!DequantizeTensor(type, blocks.const_data_ptr(), out.mutable_data_ptr(), *format, rows,
                          row_elements)) {
      return absl::UnimplementedError(absl::StrCat("cannot dequantize ", GgmlTypeName(type)));
    }
    return absl::OkStatus();
  }
#ifdef OVID_TORCH_CUDA
  if (blocks.is_cuda()) {
    const QuantKernels& k = CudaQuantKernels();
    if (k.dequantize == nullptr || k.dequantize_supports == nullptr ||
        !k.dequantize_supports(type)) {
      return DequantizeViaHost(type, blocks, rows, row_elements, *format, out);
    }
    return GuardTorch("dequantize", [&]() -> absl::Status {
      const c10::cuda::CUDAGuard guard(blocks.device());
      void* stream = c10::cuda::getCurrentCUDAStream(blocks.device().index()).stream();
      const at::Tensor src = Aligned16(blocks);
      // An output view that does not start on a 16-byte boundary gets the result by a copy.
      const int64_t n = rows * row_elements;
      const bool staged = reinterpret_cast<uintptr_t>(out.const_data_ptr()) % 16 != 0;
      const at::Tensor target = staged ? at::empty({n}, out.options()) : out;
      const int err = k.dequantize(type, src.const_data_ptr(), target.mutable_data_ptr(), rows,
                                   row_elements, *format, use == DequantUse::kReadNext, stream);
      if (err != 0) {
        return absl::InternalError(absl::StrCat("CUDA dequantize ", GgmlTypeName(type), " [", rows,
                                                ", ", row_elements, "]: ", k.error_string(err)));
      }
      if (staged) out.view({-1}).narrow(0, 0, n).copy_(target);
      return absl::OkStatus();
    });
  }
#endif
  return absl::UnimplementedError(
      absl::StrCat("dequantize on device ", blocks.device().str(), " is not supported"));
}

absl::StatusOr<at::Tensor> FusedQuantMatmul(const at::Tensor& x, GgmlType type,
                                            const at::Tensor& blocks, int64_t n, int64_t k,
                                            const at::Tensor& bias) {
  if (!HasFusedMatmul(type)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no fused quantized matmul kernel for ", GgmlTypeName(type)));
  }
  if (absl::Status s = CheckBlocks(type, blocks, n, k); !s.ok()) return s;
  if (!x.defined() || x.dim() != 2 || x.size(1) != k || x.scalar_type() != at::kBFloat16) {
    return absl::InvalidArgumentError(absl::StrCat("fused matmul input must be bf16 [m, ", k, "]"));
  }
  if (x.device() != blocks.device() || !x.is_cuda()) {
    return absl::InvalidArgumentError("fused matmul input and weight must share a CUDA device");
  }
  if (bias.defined() &&
      (bias.scalar_type() != at::kBFloat16 || bias.numel() != n || bias.device() != x.device())) {
    return absl::InvalidArgumentError(absl::StrCat("fused matmul bias must be bf16 [", n, "]"));
  }
#ifdef OVID_TORCH_CUDA
  return GuardTorch("fused quantized matmul", [&]() -> absl::StatusOr<at::Tensor> {
    const c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor wa = Aligned16(blocks);
    const at::Tensor xa = Aligned16(x);
    const at::Tensor ba = bias.defined() ? Aligned16(bias) : at::Tensor();
    at::Tensor y = at::empty({x.size(0), n}, x.options());
    if (x.size(0) == 0) return y;
    const QuantKernels& kern = CudaQuantKernels();
    void* stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
    const int err =
        kern.qmatmul(type, wa.const_data_ptr(), xa.const_data_ptr(), y.mutable_data_ptr(),
                     x.size(0), n, k, ba.defined() ? ba.const_data_ptr() : nullptr, stream);
    if (err != 0) {
      return absl::InternalError(absl::StrCat("CUDA fused matmul ", GgmlTypeName(type),
                                              " m=", x.size(0), " n=", n, " k=", k, ": ",
                                              kern.error_string(err)));
    }
    return y;
  });
#else
  return absl::UnimplementedError("LibTorch was built without CUDA");
#endif
}

}  // namespace ovid::ops
