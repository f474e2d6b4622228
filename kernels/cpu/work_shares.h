// File: kernels/cpu/work_shares.h
// Splits a run of independent items over a few threads, for the CPU block loops and the
// host-side copies of the loader.
#ifndef OVID_KERNELS_CPU_WORK_SHARES_H_
#define OVID_KERNELS_CPU_WORK_SHARES_H_

#include <cstdint>
#include <functional>

namespace ovid {

// The number of threads worth using for `n_items` items when each thread should get at least
// `min_items_per_thread`: at most `max_threads` (<= 0: the hardware's thread count), at least 1.
int64_t UsefulThreads(int64_t n_items, int64_t min_items_per_thread, int64_t max_threads);

// Runs fn(first, last) over [0, n_items) cut into `n_shares` contiguous ranges whose sizes differ
// by at most one: shares 1.. on threads of their own, share 0 on the calling thread. Returns
// when every share is done. A thread that cannot be started (a thread or memory limit; this
// runs inside a daemon that must not abort) is not fatal: its share runs on the calling thread.
// `fn` must not throw.
void RunInShares(int64_t n_items, int64_t n_shares,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace ovid

#endif  // OVID_KERNELS_CPU_WORK_SHARES_H_
