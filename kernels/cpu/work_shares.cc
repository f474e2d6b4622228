// File: kernels/cpu/work_shares.cc
#include "kernels/cpu/work_shares.h"

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace ovid {

int64_t UsefulThreads(int64_t n_items, int64_t min_items_per_thread, int64_t max_threads) {
  if (max_threads <= 0) max_threads = std::max(1u, std::thread::hardware_concurrency());
  const int64_t useful = std::max<int64_t>(1, n_items / std::max<int64_t>(1, min_items_per_thread));
  return std::min(max_threads, useful);
}

void RunInShares(int64_t n_items, int64_t n_shares,
                 const std::function<void(int64_t, int64_t)>& fn) {
  n_shares = std::clamp<int64_t>(n_shares, 1, std::max<int64_t>(1, n_items));
  const int64_t per = n_items / n_shares, extra = n_items % n_shares;
  auto share_begin = [&](int64_t s) { return s * per + std::min(s, extra); };
  // Nothing here may throw past a started thread (its destructor would std::terminate): the
  // vector's room is taken before any thread starts, and at the first thread that cannot be
  // created (no memory, a thread limit) the rest of the shares run here, in order.
  std::vector<std::thread> threads;
  try {
    threads.reserve(static_cast<size_t>(n_shares - 1));
  } catch (const std::exception&) {
    for (int64_t s = 0; s < n_shares; ++s) fn(share_begin(s), share_begin(s + 1));
    return;
  }
  int64_t started_until = n_shares;  // shares [started_until, n_shares) run on this thread
  for (int64_t s = 1; s < n_shares; ++s) {
    try {
      threads.emplace_back(fn, share_begin(s), share_begin(s + 1));
    } catch (const std::exception&) {  // std::system_error, or no memory to copy fn
      started_until = s;
      break;
    }
  }
  fn(share_begin(0), share_begin(1));
  for (int64_t s = started_until; s < n_shares; ++s) fn(share_begin(s), share_begin(s + 1));
  for (std::thread& t : threads) t.join();
}

}  // namespace ovid
