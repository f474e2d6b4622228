// File: kernels/cuda/fused_matmul_panel_q5_k.cu
// The panel kernel's instantiation for Q5_K (one file per type: they compile in parallel).
#include "kernels/cuda/fused_matmul_panel_launch.cuh"

namespace ovid::cuda_detail {
template cudaError_t LaunchPanel<GgmlType::kQ5_K>(const PanelProblem&, int, int, cudaStream_t);
}  // namespace ovid::cuda_detail
