// File: kernels/cuda/fused_matmul_panel.cu
// Argument checks and the token-tile / K-split choice of the panel path; the kernels themselves
// are instantiated per type in fused_matmul_panel_<type>.cu.
#include <cuda_bf16.h>

#include "kernels/cuda/fused_matmul_panel.cuh"
#include "kernels/cuda/fused_matmul_panel_kernel.cuh"

namespace ovid {
namespace cuda_detail {
template <GgmlType T>
cudaError_t LaunchPanel(const PanelProblem& p, int token_tile, int splits, cudaStream_t stream);
extern template cudaError_t LaunchPanel<GgmlType::kQ4_K>(const PanelProblem&, int, int,
                                                         cudaStream_t);
extern template cudaError_t LaunchPanel<GgmlType::kQ5_K>(const PanelProblem&, int, int,
                                                         cudaStream_t);
extern template cudaError_t LaunchPanel<GgmlType::kQ6_K>(const PanelProblem&, int, int,
                                                         cudaStream_t);
extern template cudaError_t LaunchPanel<GgmlType::kQ8_0>(const PanelProblem&, int, int,
                                                         cudaStream_t);
}  // namespace cuda_detail

namespace {

#ifdef OVID_CUDA_HAS_SM90A
constexpr bool kBuiltForSm90a = true;
#else
constexpr bool kBuiltForSm90a = false;
#endif

bool PanelType(GgmlType type) {
  return type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K ||
         type == GgmlType::kQ8_0;
}

// The smallest padded token count; on a tie the larger tile (fewer re-decodes of the weight).
int ChooseTokenTile(int64_t m) {
  int best = 160;
  int64_t best_pad = (m + 159) / 160 * 160;
  for (const int bt : {128, 64}) {
    const int64_t pad = (m + bt - 1) / bt * bt;
    if (pad < best_pad) {
      best = bt;
      best_pad = pad;
    }
  }
  return best;
}

}  // namespace

bool FusedPanelSupports(GgmlType type, int64_t k) {
  // Built without sm_90a (OVID_CUDA_ARCHS): the kernel's body would be a trap on a Hopper too.
  if (!kBuiltForSm90a) return false;
  if (!PanelType(type) || k <= 0 || k % cuda_detail::kPanelUnit != 0) return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return false;
  }
  return major == 9;  // built for sm_90a only (wgmma); other cards take the portable kernel
}

cudaError_t FusedPanelMatmul(GgmlType type, const void* w, const void* x, void* y, int64_t m,
                             int64_t n, int64_t k, const void* bias, int token_tile, int splits,
                             cudaStream_t stream) {
  if (token_tile != 0 && token_tile != 64 && token_tile != 128 && token_tile != 160) {
    return cudaErrorInvalidValue;
  }
  if (splits < 0 || splits > 8) return cudaErrorInvalidValue;
  if (m < 0 || n < 0 || !FusedPanelSupports(type, k)) return cudaErrorInvalidValue;
  if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff) return cudaErrorInvalidValue;
  if (m == 0 || n == 0) return cudaSuccess;
  if (w == nullptr || x == nullptr || y == nullptr) return cudaErrorInvalidValue;
  if ((reinterpret_cast<uintptr_t>(w) & 15) != 0 || (reinterpret_cast<uintptr_t>(x) & 15) != 0 ||
      (reinterpret_cast<uintptr_t>(y) & 3) != 0 || (reinterpret_cast<uintptr_t>(bias) & 1) != 0) {
    return cudaErrorMisalignedAddress;
  }
  const int bt = token_tile != 0 ? token_tile : ChooseTokenTile(m);
  const int64_t n_tiles = (n + cuda_detail::kPanelRows - 1) / cuda_detail::kPanelRows;
  const int64_t t_tiles = (m + bt - 1) / bt;
  if (n_tiles > 65535 || t_tiles > 65535) return cudaErrorInvalidValue;
  // A block takes whole pairs of 64-element stages.
  const int64_t n_pairs = k / (2 * cuda_detail::kPanelBK);
  int s = splits;
  if (s == 0) {
    // One block per SM (shared memory): split K while the grid still fits the SMs once, at most
    // 8 (the portable cluster size). Splitting costs one fp32 partial tile per block, summed
    // through distributed shared memory.
    int device = 0, sms = 132;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return cudaErrorInvalidDevice;
    }
    // Cluster sizes 5 and 7 pack badly into the GPCs (measured on an H200, Q4_K 3072x3072
    // M=157: 4 splits 20 us, 5 splits 34 us), so only 1, 2, 3, 4, 6 and 8 are used.
    const int64_t tiles = n_tiles * t_tiles;
    s = 1;
    for (const int c : {2, 3, 4, 6, 8}) {
      if (tiles * c <= sms) s = c;
    }
  }
  if (s > n_pairs) s = static_cast<int>(n_pairs);
  const cuda_detail::PanelProblem p{static_cast<const uint8_t*>(w),
                                    static_cast<const __nv_bfloat16*>(x),
                                    static_cast<__nv_bfloat16*>(y),
                                    static_cast<const __nv_bfloat16*>(bias),
                                    static_cast<int>(m),
                                    static_cast<int>(n),
                                    static_cast<int>(k),
                                    GgmlRowBytes(type, k)};
  switch (type) {
    case GgmlType::kQ4_K:
      return cuda_detail::LaunchPanel<GgmlType::kQ4_K>(p, bt, s, stream);
    case GgmlType::kQ5_K:
      return cuda_detail::LaunchPanel<GgmlType::kQ5_K>(p, bt, s, stream);
    case GgmlType::kQ6_K:
      return cuda_detail::LaunchPanel<GgmlType::kQ6_K>(p, bt, s, stream);
    case GgmlType::kQ8_0:
      return cuda_detail::LaunchPanel<GgmlType::kQ8_0>(p, bt, s, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace ovid
