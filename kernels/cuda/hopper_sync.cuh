// File: kernels/cuda/hopper_sync.cuh
// Device-only sm_90 synchronisation and bulk-copy helpers used by the fused panel kernel: named
// barriers (producer/consumer hand-offs between warp groups), the generic->async proxy fence,
// mbarriers and the 2-D TMA tensor copy that completes on one. Internal to kernels/cuda.
#pragma once

#include <cuda.h>  // CUtensorMap (the type only)

#include <cstdint>

namespace ovid::cuda_detail {

__device__ __forceinline__ void NamedSync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
// The same barrier for threads that reach it from different instructions (warp-specialized
// branches): bar.sync is the .aligned form, which PTX allows only where every thread of the block
// executes the same instruction (compute-sanitizer's synccheck reports the divergent use).
__device__ __forceinline__ void NamedSyncDivergent(int id, int count) {
  asm volatile("barrier.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void NamedArrive(int id, int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
// A barrier of every thread of every block in the cluster that orders no memory (a relaxed
// arrive): for when the threads only need to know that the others got there, such as a block
// that must not exit while another still reads its shared memory and whose reads have all
// returned. cluster.sync()'s arrive is a release, which must first make this thread's earlier
// writes (the fused matmul's output) visible to the cluster: the relaxed one measured 0.2-0.3 us
// faster per launch at 157 tokens on an H200 (bench/NOTES.md).
__device__ __forceinline__ void ClusterBarrierRelaxed() {
  asm volatile(
      "barrier.cluster.arrive.relaxed.aligned;\n"
      "barrier.cluster.wait.aligned;\n" ::
          : "memory");
}

// Shared memory written through the generic proxy (st.shared) and read next by wgmma or a bulk
// copy (async proxy) needs this in each writing thread before the barrier that publishes it.
__device__ __forceinline__ void FenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// mbarriers (count arrivals plus expected transaction bytes; waited on by phase parity).
__device__ __forceinline__ void MbarInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void MbarExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void MbarWait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nwait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// Arrives on `bar` once all of this thread's earlier cp.async copies have landed, without
// blocking the thread (the mbarrier's expected count includes this arrival).
__device__ __forceinline__ void CpAsyncArriveOn(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// 2-D tensor copy of the map's box at coordinates (k0, m0) into shared memory, completing on bar.
__device__ __forceinline__ void TmaLoad2d(uint32_t dst, const CUtensorMap* map, int k0, int m0,
                                          uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, "
      "%3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(k0), "r"(m0), "r"(bar)
      : "memory");
}

}  // namespace ovid::cuda_detail
