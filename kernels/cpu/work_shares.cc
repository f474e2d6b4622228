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
  std::vector<std::thread> threads;
  std::vector<int64_t> not_started;  // shares whose thread could not be created
  threads.reserve(static_cast<size_t>(n_shares - 1));
  for (int64_t s = 1; s < n_shares; ++s) {
    const int64_t first = share_begin(s), last = share_begin(s + 1);
    try {
      threads.emplace_back(fn, first, last);
    } catch (const std::exception&) {  // std::system_error, or no memory to copy fn
      not_started.push_back(s);
    }
  }
  fn(share_begin(0), share_begin(1));
  for (int64_t s : not_started) fn(share_begin(s), share_begin(s + 1));
  for (std::thread& t : threads) t.join();
}

}  // namespace ovid
