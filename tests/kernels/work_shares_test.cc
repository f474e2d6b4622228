// File: tests/kernels/work_shares_test.cc
// RunInShares: every item done exactly once for any split, and still done when the process
// cannot start threads (the daemon's loader and CPU fallback must not abort there).
#include "kernels/cpu/work_shares.h"

#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ovid {
namespace {

// Counts how often each item was handed out, and on which threads.
struct Tally {
  explicit Tally(int64_t n) : hits(static_cast<size_t>(n)) {}
  void Run(int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    ++calls;
  }
  bool EachOnce() const {
    for (const auto& h : hits) {
      if (h.load() != 1) return false;
    }
    return true;
  }
  std::vector<std::atomic<int>> hits;
  std::mutex mu;
  std::set<std::thread::id> threads;
  int calls = 0;
};

TEST(WorkSharesTest, EveryItemOnceForAnySplit) {
  for (int64_t n : {0, 1, 7, 64, 1000, 1001}) {
    for (int64_t shares : {-3, 0, 1, 2, 3, 8, 2000}) {
      Tally tally(n);
      RunInShares(n, shares, [&](int64_t a, int64_t b) { tally.Run(a, b); });
      EXPECT_TRUE(tally.EachOnce()) << "n=" << n << " shares=" << shares;
      // Never more shares than items (no empty threads), never fewer than one call.
      const int64_t want = std::max<int64_t>(1, std::min<int64_t>(std::max<int64_t>(shares, 1), n));
      EXPECT_EQ(tally.calls, want) << "n=" << n << " shares=" << shares;
    }
  }
}

TEST(WorkSharesTest, SharesRunOnThreadsOfTheirOwn) {
  Tally tally(4000);
  RunInShares(4000, 4, [&](int64_t a, int64_t b) { tally.Run(a, b); });
  EXPECT_TRUE(tally.EachOnce());
  EXPECT_TRUE(tally.threads.count(std::this_thread::get_id()));  // share 0 on the caller
  EXPECT_GE(tally.threads.size(), 2u);
}

TEST(WorkSharesTest, UsefulThreadsBounds) {
  EXPECT_EQ(UsefulThreads(0, 100, 8), 1);
  EXPECT_EQ(UsefulThreads(250, 100, 8), 2);
  EXPECT_EQ(UsefulThreads(1 << 20, 100, 8), 8);
  EXPECT_EQ(UsefulThreads(1 << 20, 0, 3), 3);
  EXPECT_GE(UsefulThreads(1 << 20, 1, 0), 1);  // 0: the hardware's count
}

// ASan reserves terabytes of shadow address space, so the cap below cannot apply under it.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OVID_UNDER_ASAN 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(OVID_UNDER_ASAN)
// With the address space capped just above what the process uses, pthread_create cannot map
// a stack and std::thread throws std::system_error. Run in a re-executed child: the cap cannot
// be undone, and a forked one would inherit glibc's cache of the earlier tests' thread stacks.
TEST(WorkSharesTest, ThreadsThatCannotStartLeaveTheirShareToTheCaller) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto tally = std::make_unique<Tally>(4000);  // allocated before the cap
        rlimit cap{};
        FILE* statm = std::fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (statm == nullptr || std::fscanf(statm, "%lu", &pages) != 1) std::_Exit(3);
        std::fclose(statm);
        cap.rlim_cur = cap.rlim_max = pages * 4096 + (1 << 20);  // < one 8 MB thread stack
        if (setrlimit(RLIMIT_AS, &cap) != 0) std::_Exit(4);
        RunInShares(4000, 4, [&](int64_t a, int64_t b) { tally->Run(a, b); });
        const bool caller_only =
            tally->threads.size() == 1 && tally->threads.count(std::this_thread::get_id()) == 1;
        std::_Exit(tally->EachOnce() && tally->calls == 4 && caller_only ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}
#endif

}  // namespace
}  // namespace ovid
