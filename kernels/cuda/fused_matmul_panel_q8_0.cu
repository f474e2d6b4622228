// File: kernels/cuda/fused_matmul_panel_q8_0.cu
// The panel kernel's instantiation for Q8_0 (one file per type: they compile in parallel).
#include "kernels/cuda/fused_matmul_panel_launch.cuh"

namespace ovid::cuda_detail {
template cudaError_t LaunchPanel<GgmlType::kQ8_0>(const PanelProblem&, int, int, cudaStream_t);
}  // namespace ovid::cuda_detail
