// File: kernels/cuda/fused_matmul_panel_q6_k.cu
// The panel kernel's instantiation for Q6_K (one file per type: they compile in parallel).
#include "kernels/cuda/fused_matmul_panel_launch.cuh"

namespace ovid::cuda_detail {
template cudaError_t LaunchPanel<GgmlType::kQ6_K>(const PanelProblem&, int, int, cudaStream_t);
}  // namespace ovid::cuda_detail
