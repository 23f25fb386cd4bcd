#include "runtime/common/clock.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace hilo {
namespace {

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
}

TEST(FakeClockTest, AWaitEndsWhenTheClockReachesItsDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  std::atomic<int> result{-1};
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(mu, absl::Condition(&ready), deadline) ? 1 : 0;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.Advance(absl::Seconds(9));
  // Still asleep: its deadline is ahead of the clock.
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(result.load(), -1);
  clock.Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_EQ(result.load(), 0);
}

TEST(FakeClockTest, AdvancesToTheEarliestDeadlineAhead) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  clock.AdvanceToNextDeadline(absl::Seconds(1));  // nobody waits: the whole step
  EXPECT_EQ(clock.Now(), start + absl::Seconds(1));
  absl::Mutex mu;
  bool ready = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    clock.AwaitWithDeadline(mu, absl::Condition(&ready), start + absl::Seconds(3));
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.AdvanceToNextDeadline(absl::Seconds(10));  // stops at the waiter's deadline
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
  waiter.join();
  clock.AdvanceToNextDeadline(absl::Milliseconds(5));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3) + absl::Milliseconds(5));
}

TEST(FakeClockTest, AWaitEndsWhenItsConditionHolds) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(mu, absl::Condition(&ready), clock.Now() + absl::Hours(1))
                 ? 1
                 : 0;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  {
    absl::MutexLock lock(&mu);
    ready = true;
  }
  waiter.join();
  EXPECT_EQ(result.load(), 1);
}

TEST(FakeClockTest, APastDeadlineReturnsAtOnceAndNeverCountsAsASleeper) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitWithDeadline(mu, absl::Condition(&ready), clock.Now()));
  EXPECT_FALSE(clock.AwaitSleepers(1, absl::Milliseconds(10)));
}

TEST(SystemClockTest, WaitsInRealTime) {
  Clock& clock = Clock::System();
  absl::Mutex mu;
  bool ready = false;
  const absl::Time start = clock.Now();
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitWithDeadline(mu, absl::Condition(&ready), start + absl::Milliseconds(5)));
  EXPECT_GE(clock.Now(), start + absl::Milliseconds(5));
}

}  // namespace
}  // namespace hilo
