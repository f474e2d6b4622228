// File: kernels/cuda/fused_matmul_panel_launch.cuh
// Launch of the panel kernel for one weight type (all token tiles), instantiated once per type
// in fused_matmul_panel_<type>.cu so the four heavy kernels compile in parallel. Internal.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "kernels/cuda/fused_matmul_panel_kernel.cuh"

namespace ovid::cuda_detail {

// A 2-D tensor map (zero fill out of bounds). The driver's encoder is reached through the
// runtime, so the daemon still links no driver library.
inline cudaError_t EncodeMap(CUtensorMap* map, CUtensorMapDataType type, void* base,
                             const cuuint64_t (&dims)[2], const cuuint64_t (&strides)[1],
                             const cuuint32_t (&box)[2], CUtensorMapSwizzle swizzle) {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult status{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &status) != cudaSuccess ||
        status != cudaDriverEntryPointSuccess) {
      fn = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  if (encode == nullptr) return cudaErrorNotSupported;
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode(map, type, 2, base, dims, strides, box, elem_strides,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

// The activation tensor map: X [M, K] bf16, boxes of {64 k, bt tokens}, 128B swizzle (the wgmma
// operand layout), zero fill past M.
inline cudaError_t MakeXMap(const PanelProblem& p, int bt, CUtensorMap* map) {
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(p.k), static_cast<cuuint64_t>(p.m)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(p.k) * 2};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kPanelBK), static_cast<cuuint32_t>(bt)};
  return EncodeMap(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, const_cast<__nv_bfloat16*>(p.x), dims,
                   strides, box, CU_TENSOR_MAP_SWIZZLE_128B);
}

// The raw weight map (PanelGeometry kTma): W as a [N, row bytes / 2] matrix of 16-bit words,
// boxes of {kTmaBox bytes, 128 rows}, no swizzle, zero fill past the ends. Without kTma a map of
// X stands in (the kernel never reads it).
template <GgmlType T, bool kTma>
cudaError_t MakeWMap(const PanelProblem& p, CUtensorMap* map) {
  using G = PanelGeometry<T, kTma>;
  if constexpr (!kTma) {
    return MakeXMap(p, kPanelRows, map);
  } else {
    if (p.w_row_bytes % 16 != 0) return cudaErrorInvalidValue;
    const cuuint64_t dims[2] = {static_cast<cuuint64_t>(p.w_row_bytes / 2),
                                static_cast<cuuint64_t>(p.n)};
    const cuuint64_t strides[1] = {static_cast<cuuint64_t>(p.w_row_bytes)};
    const cuuint32_t box[2] = {static_cast<cuuint32_t>(G::kTmaBox / 2),
                               static_cast<cuuint32_t>(kPanelRows)};
    return EncodeMap(map, CU_TENSOR_MAP_DATA_TYPE_UINT16, const_cast<uint8_t*>(p.w), dims, strides,
                     box, CU_TENSOR_MAP_SWIZZLE_NONE);
  }
}

template <GgmlType T, int kBT, bool kTma>
cudaError_t LaunchPanelKernel(const PanelProblem& p, int splits, cudaStream_t stream) {
  constexpr int kSmem = PanelLayout<T, kBT, kTma>::kSmem;
  static_assert(kSmem <= 227 * 1024, "shared memory over the sm_90 limit");
  auto* kernel = FusedPanelKernel<T, kBT, kTma>;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (err != cudaSuccess) return err;
  CUtensorMap xmap, wmap;
  err = MakeXMap(p, kBT, &xmap);
  if (err != cudaSuccess) return err;
  err = MakeWMap<T, kTma>(p, &wmap);
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(splits, (p.n + kPanelRows - 1) / kPanelRows, (p.m + kBT - 1) / kBT);
  cfg.blockDim = dim3(kPanelThreads);
  cfg.dynamicSmemBytes = kSmem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = splits;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  // Programmatic dependent launch: the blocks start (barrier set-up, weight copies and decode)
  // while the previous kernel in the stream finishes; the kernel waits for it before it touches
  // the activations or the output (GridDependencyWait).
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 2;
  return cudaLaunchKernelEx(&cfg, kernel, xmap, wmap, p);
}

// token_tile and splits already validated by the caller.
// The TMA raw path where the rows allow it (for units of whole 16-byte words always: only that
// variant is compiled for them).
template <GgmlType T, int kBT>
cudaError_t LaunchPanelTile(const PanelProblem& p, int splits, cudaStream_t stream) {
  if constexpr (PanelGeometry<T, true>::kTmaAlways) {
    return LaunchPanelKernel<T, kBT, true>(p, splits, stream);
  } else {
    return p.w_row_bytes % 16 == 0 ? LaunchPanelKernel<T, kBT, true>(p, splits, stream)
                                   : LaunchPanelKernel<T, kBT, false>(p, splits, stream);
  }
}

template <GgmlType T>
cudaError_t LaunchPanel(const PanelProblem& p, int token_tile, int splits, cudaStream_t stream) {
  switch (token_tile) {
    case 64:
      return LaunchPanelTile<T, 64>(p, splits, stream);
    case 128:
      return LaunchPanelTile<T, 128>(p, splits, stream);
    case 160:
      return LaunchPanelTile<T, 160>(p, splits, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace ovid::cuda_detail
