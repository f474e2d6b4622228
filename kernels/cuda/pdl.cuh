// File: kernels/cuda/pdl.cuh
// Programmatic dependent launch (sm_90+; no-ops on older cards and without the launch
// attribute). Internal to kernels/cuda.
//
// A kernel launched with cudaLaunchAttributeProgrammaticStreamSerialization may start its blocks
// before the previous kernel in the stream has finished: as soon as every block of that kernel
// has called LaunchDependents (or exited). It must call GridDependencyWait before it reads
// anything the previous kernels wrote or writes anything they may still read; what it does
// before (barrier set-up, copies of weights that no kernel writes) overlaps their tail.
#pragma once

namespace ovid::cuda_detail {

__device__ __forceinline__ void LaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void GridDependencyWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

}  // namespace ovid::cuda_detail
