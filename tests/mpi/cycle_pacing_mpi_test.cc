// How the coordinator paces its negotiation cycles when ranks are out of step, as both ranks of
// an MPI job with a long cycle time (HILO_CYCLE_TIME_MS=1000, see BUILD), so that a step padded
// by a cycle shows as most of a second:
//  * a rank that reported a tensor its peer had not yet submitted starts its next cycle at once
//    instead of waiting out the cycle time, so the peer's late submission completes promptly;
//  * ranks that disagree for good (a stall) do not agree in a loop: the catching-up pauses
//    double up to the cycle time.
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

constexpr absl::Duration kCycleTime = absl::Milliseconds(1000);  // HILO_CYCLE_TIME_MS in BUILD

absl::StatusOr<Handle> Enqueue(const char* name, float* value) {
  return HiloTestContext().Allreduce(name, {value, DataType::kFloat32, {1}});
}

// Both ranks leave this at about the same time.
void Meet(const char* name) {
  float one = 1;
  absl::StatusOr<Handle> handle = Enqueue(name, &one);
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
}

TEST(CyclePacingMpiTest, APeerOneCycleBehindDoesNotWaitOutTheCycleTime) {
  const int rank = HiloTestTopology().world_rank;
  ASSERT_EQ(HiloTestTopology().world_size, 2);
  Meet("pacing.start");
  float a = 1, b = 1;
  absl::Duration a_latency;
  if (rank == 0) {
    // Reported in cycle n, where rank 1 reports "b" instead: neither is agreed.
    absl::StatusOr<Handle> first = Enqueue("a", &a);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(first->Wait(kOperationTimeout).ok());
    absl::StatusOr<Handle> second = Enqueue("b", &b);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_TRUE(second->Wait(kOperationTimeout).ok());
  } else {
    absl::SleepFor(absl::Milliseconds(100));
    absl::StatusOr<Handle> first = Enqueue("b", &b);
    ASSERT_TRUE(first.ok()) << first.status();
    absl::SleepFor(absl::Milliseconds(20));  // cycle n ends
    // Rank 0 already reported "a"; rank 1 reports it in cycle n + 1. Without catching up, rank
    // 0 would join that cycle only when its cycle time since cycle n began had passed (~880 ms);
    // catching up, it waits at most about as long as rank 1 was late.
    const absl::Time submitted = absl::Now();
    absl::StatusOr<Handle> second = Enqueue("a", &a);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_TRUE(second->Wait(kOperationTimeout).ok());
    a_latency = absl::Now() - submitted;
    ASSERT_TRUE(first->Wait(kOperationTimeout).ok());
  }
  EXPECT_EQ(a, 2.0f);
  EXPECT_EQ(b, 2.0f);
  if (rank == 1) {
    EXPECT_LT(a_latency, kCycleTime * 0.3) << "the late submission waited out rank 0's cycle time";
  }
}

TEST(CyclePacingMpiTest, RanksThatDisagreeForGoodFallBackToTheCycleTime) {
  const int rank = HiloTestTopology().world_rank;
  Meet("stall.start");
  const AgreementCounts before = *HiloTestContext().NegotiationAgreements();
  // Each rank submits a tensor the other has not, for three cycle times.
  float mine = 1, theirs = 1;
  absl::StatusOr<Handle> own = Enqueue(rank == 0 ? "x" : "y", &mine);
  ASSERT_TRUE(own.ok()) << own.status();
  absl::SleepFor(kCycleTime * 3);
  const AgreementCounts during = *HiloTestContext().NegotiationAgreements();
  // Catching up: pauses from 50 us doubling to the cycle time (about 16 agreements), then one
  // per cycle time. An agreement loop would count thousands.
  EXPECT_LE(during.world - before.world, 40) << "agreements while the ranks disagreed";
  absl::StatusOr<Handle> other = Enqueue(rank == 0 ? "y" : "x", &theirs);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(own->Wait(kOperationTimeout).ok());
  ASSERT_TRUE(other->Wait(kOperationTimeout).ok());
  EXPECT_EQ(mine, 2.0f);
  EXPECT_EQ(theirs, 2.0f);
}

}  // namespace
}  // namespace hilo::testing
