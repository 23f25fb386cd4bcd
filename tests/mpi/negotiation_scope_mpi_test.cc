// Which ranks a negotiation synchronizes, as every rank of MPI jobs in several group layouts (see
// BUILD): steps that only reduce in the group agree in the group alone, world work still meets
// everyone, and groups that reach their world work at different times neither deadlock nor get
// each other's results wrong (docs/protocol.md, "Cycles").
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

// The runtime's period for groups without world work to join a world cycle (runtime.cc).
constexpr absl::Duration kWorldJoinPeriod = absl::Milliseconds(50);

int32_t SumOverCommunicator(const Topology& t, CommunicatorKind kind, int offset) {
  int32_t sum = 0;
  for (int c = 0; c < t.CommunicatorSize(kind); ++c) sum += t.WorldRankOf(kind, c) + offset;
  return sum;
}

absl::Status AllreduceAndCheck(const std::string& name, CommunicatorKind kind, int offset) {
  const Topology& t = HiloTestTopology();
  std::vector<int32_t> data(1024, t.world_rank + offset);
  CollectiveOptions options;
  options.communicator = kind;
  absl::StatusOr<Handle> handle =
      HiloTestContext().Allreduce(name, {data.data(), DataType::kInt32, {1024}}, options);
  if (!handle.ok()) return handle.status();
  if (absl::Status status = handle->Wait(kOperationTimeout); !status.ok()) return status;
  const int32_t expected = SumOverCommunicator(t, kind, offset);
  for (int32_t value : data) {
    if (value != expected) {
      return absl::InternalError(absl::StrCat(name, ": got ", value, ", expected ", expected));
    }
  }
  return absl::OkStatus();
}

TEST(NegotiationScopeMpiTest, GroupStepsAgreeInTheGroupAlone) {
  const Topology& t = HiloTestTopology();
  ASSERT_TRUE(AllreduceAndCheck("scope.align", CommunicatorKind::kWorld, 0).ok());
  // Let the world cycles that finish the aligning allreduce pass.
  absl::SleepFor(2 * kWorldJoinPeriod);
  constexpr int kSteps = 200;
  const AgreementCounts before = *HiloTestContext().NegotiationAgreements();
  const absl::Time start = absl::Now();
  for (int step = 0; step < kSteps; ++step) {
    ASSERT_TRUE(AllreduceAndCheck("scope.gradient", CommunicatorKind::kGroup, step).ok())
        << "step " << step;
  }
  const absl::Duration elapsed = absl::Now() - start;
  const AgreementCounts after = *HiloTestContext().NegotiationAgreements();
  const int64_t world = after.world - before.world, group = after.group - before.group;
  // A rank that finishes early goes on to world work (the gather below, the next test), and
  // world work in flight anywhere rightly pulls every rank into world cycles: a slower rank's
  // count then includes those. The first rank to finish saw none of that, so the smallest count
  // over the ranks is the one to judge.
  const int64_t mine[2] = {world, absl::ToInt64Milliseconds(elapsed)};
  std::vector<int64_t> all(2 * t.world_size);
  absl::StatusOr<Handle> gathered = HiloTestContext().Allgather(
      "scope.counts", {const_cast<int64_t*>(mine), DataType::kInt64, {1, 2}});
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  ASSERT_TRUE(gathered->Wait(kOperationTimeout).ok());
  std::memcpy(all.data(), gathered->output().data(), all.size() * sizeof(int64_t));
  int64_t fewest_world = world, longest_ms = 0;
  for (int r = 0; r < t.world_size; ++r) {
    fewest_world = std::min(fewest_world, all[2 * r]);
    longest_ms = std::max(longest_ms, all[2 * r + 1]);
  }
  if (t.world_rank == 0) {
    std::printf("%d groups of %d: %d group-only steps in %s: %lld world agreements (fewest on "
                "any rank %lld), %lld group agreements\n",
                t.num_groups, t.group_size, kSteps, absl::FormatDuration(elapsed).c_str(),
                static_cast<long long>(world), static_cast<long long>(fewest_world),
                static_cast<long long>(group));
  }
  if (t.num_groups == 1) {
    // The group is the world: one agreement per cycle, over everyone.
    EXPECT_EQ(group, 0);
    EXPECT_GE(world, kSteps);
  } else {
    EXPECT_GE(group, kSteps);
    // Only the periodic joins (about one per kWorldJoinPeriod) reach the world, not every step
    // as when every cycle was a world cycle.
    const int64_t periodic = 3 + 2 * (absl::Milliseconds(longest_ms) / kWorldJoinPeriod);
    EXPECT_LE(fewest_world, std::max<int64_t>(kSteps / 4, periodic))
        << "group-only steps synchronized the world";
  }
}

TEST(NegotiationScopeMpiTest, GroupsReachingWorldWorkAtDifferentTimes) {
  const Topology& t = HiloTestTopology();
  constexpr int kGroupSteps = 30;
  std::vector<int32_t> world_data(256, t.world_rank), cross_data(256, 10 * t.world_rank);
  CollectiveOptions world_options, cross_options;
  world_options.communicator = CommunicatorKind::kWorld;
  cross_options.communicator = CommunicatorKind::kCross;
  const auto submit_world_work = [&](Handle* world, Handle* cross) {
    absl::StatusOr<Handle> w = HiloTestContext().Allreduce(
        "skew.world", {world_data.data(), DataType::kInt32, {256}}, world_options);
    absl::StatusOr<Handle> c = HiloTestContext().Allreduce(
        "skew.cross", {cross_data.data(), DataType::kInt32, {256}}, cross_options);
    ASSERT_TRUE(w.ok() && c.ok());
    *world = *w;
    *cross = *c;
  };
  Handle world, cross;
  // Group 0 asks for world and cross work first and keeps stepping in its group while it waits;
  // the other groups step first and ask well after.
  if (t.group == 0) submit_world_work(&world, &cross);
  for (int step = 0; step < kGroupSteps; ++step) {
    ASSERT_TRUE(AllreduceAndCheck("skew.gradient", CommunicatorKind::kGroup, step).ok());
  }
  if (t.group != 0) {
    absl::SleepFor(2 * kWorldJoinPeriod);
    submit_world_work(&world, &cross);
  }
  ASSERT_TRUE(world.Wait(kOperationTimeout).ok());
  ASSERT_TRUE(cross.Wait(kOperationTimeout).ok());
  EXPECT_THAT(world_data, ::testing::Each(SumOverCommunicator(t, CommunicatorKind::kWorld, 0)));
  int32_t cross_sum = 0;
  for (int c = 0; c < t.CommunicatorSize(CommunicatorKind::kCross); ++c) {
    cross_sum += 10 * t.WorldRankOf(CommunicatorKind::kCross, c);
  }
  EXPECT_THAT(cross_data, ::testing::Each(cross_sum));
  // And the groups step together again afterwards.
  for (int step = 0; step < 5; ++step) {
    ASSERT_TRUE(AllreduceAndCheck("skew.after", CommunicatorKind::kGroup, step).ok());
  }
  ASSERT_TRUE(AllreduceAndCheck("skew.world_after", CommunicatorKind::kWorld, 1).ok());
}

}  // namespace
}  // namespace hilo::testing
