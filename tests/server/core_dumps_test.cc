// File: tests/server/core_dumps_test.cc
// --core-dumps: off leaves this process with no core file limit and not dumpable; on changes
// nothing. Its own binary: it makes the test process undumpable.
#include "server/core_dumps.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>

namespace ovid::server {
namespace {

TEST(CoreDumpsTest, OnLeavesTheProcessAsItWasAndOffTurnsDumpsOff) {
  // A limit to take away first (the soft one up to the hard one, as a shell's ulimit -c would).
  rlimit limit = {};
  ASSERT_EQ(getrlimit(RLIMIT_CORE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &limit), 0);
  ASSERT_EQ(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
  const bool could = limit.rlim_max > 0;

  ASSERT_TRUE(SetCoreDumps(true).ok());
  EXPECT_EQ(CoreDumpsAllowed(), could);
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);

  ASSERT_TRUE(SetCoreDumps(false).ok());
  EXPECT_FALSE(CoreDumpsAllowed());
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  rlimit after = {};
  ASSERT_EQ(getrlimit(RLIMIT_CORE, &after), 0);
  EXPECT_EQ(after.rlim_cur, 0u);
  EXPECT_EQ(after.rlim_max, 0u);  // the hard limit too: nothing later can raise it again
}

}  // namespace
}  // namespace ovid::server
