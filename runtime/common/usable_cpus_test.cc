#include "runtime/common/usable_cpus.h"

#include <sched.h>

#include <thread>

#include "gtest/gtest.h"

namespace hilo {
namespace {

TEST(UsableCpusTest, FollowsTheAffinityMaskNotTheMachine) {
  cpu_set_t original;
  CPU_ZERO(&original);
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  EXPECT_EQ(UsableCpus(), CPU_COUNT(&original));
  EXPECT_LE(UsableCpus(), static_cast<int>(std::thread::hardware_concurrency()));

  // Bound to one CPU (as mpirun --bind-to core would), the process has one, whatever the machine.
  int first = 0;
  while (!CPU_ISSET(first, &original)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(UsableCpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(original), &original), 0);
}

}  // namespace
}  // namespace hilo
