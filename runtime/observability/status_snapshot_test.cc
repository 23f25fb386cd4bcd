#include "runtime/observability/status_snapshot.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::ElementsAre;

RuntimeState TwoGroupsOfTwo() {
  RuntimeState state;
  state.topology = *MakeTopology(3, 4, 1, 2, 2, 2, 2);
  state.config.group_size = 2;
  state.hostname = "node1";
  state.uptime = absl::Seconds(12);
  state.queue_depth = 5;
  state.steps = 40;
  return state;
}

TEST(StatusSnapshotTest, TopologySettingsAndProgressAreCopied) {
  const status::StatusReply reply = MakeStatusReply(TwoGroupsOfTwo());
  EXPECT_EQ(reply.topology().world_rank(), 3);
  EXPECT_EQ(reply.topology().group(), 1);
  EXPECT_EQ(reply.topology().group_rank(), 1);
  EXPECT_EQ(reply.topology().hostname(), "node1");
  EXPECT_DOUBLE_EQ(reply.uptime_seconds(), 12.0);
  EXPECT_EQ(reply.queue_depth(), 5);
  EXPECT_EQ(reply.steps(), 40);
  bool found = false;
  for (const status::Setting& setting : reply.settings()) {
    if (setting.name() == "HILO_GROUP_SIZE") found = setting.value() == "2";
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(reply.running());
  EXPECT_TRUE(reply.stopped_reason().empty());
}

TEST(StatusSnapshotTest, EachCommunicatorHasItsNameSizeAndActivity) {
  RuntimeState state = TwoGroupsOfTwo();
  CommunicatorActivity& group = state.communicators[static_cast<int>(CommunicatorKind::kGroup)];
  group.transport.calls = 7;
  group.transport.bytes = 4096;
  group.transport.busy_nanoseconds = 1500000000;
  group.cache = {3, 4};
  group.agreements = 9;
  const status::StatusReply reply = MakeStatusReply(state);
  ASSERT_EQ(reply.communicators_size(), kNumCommunicatorKinds);
  const status::CommunicatorStatus& reported = reply.communicators(static_cast<int>(CommunicatorKind::kGroup));
  EXPECT_EQ(reported.name(), "group 1");
  EXPECT_EQ(reported.size(), 2);
  EXPECT_EQ(reported.operations(), 7);
  EXPECT_EQ(reported.bytes(), 4096);
  EXPECT_DOUBLE_EQ(reported.busy_seconds(), 1.5);
  EXPECT_EQ(reported.cache_hits(), 3);
  EXPECT_EQ(reported.cache_misses(), 4);
  EXPECT_EQ(reported.agreements(), 9);
  EXPECT_EQ(reply.communicators(static_cast<int>(CommunicatorKind::kWorld)).size(), 4);
}

TEST(StatusSnapshotTest, TheLatestRoundAndTheStallsAreShown) {
  RuntimeState state = TwoGroupsOfTwo();
  AveragingRecord latest;
  latest.discrepancy = 0.5;
  latest.elements = 1000;
  latest.duration = absl::Milliseconds(250);
  state.averaging = {4, latest};
  state.stalls.push_back(StallReport{"world", "w", absl::Seconds(61), {0, 1, 2}, {3}});
  const status::StatusReply reply = MakeStatusReply(state);
  EXPECT_EQ(reply.averaging().rounds(), 4);
  EXPECT_DOUBLE_EQ(reply.averaging().latest_discrepancy(), 0.5);
  EXPECT_DOUBLE_EQ(reply.averaging().latest_seconds(), 0.25);
  EXPECT_EQ(reply.averaging().latest_elements(), 1000);
  ASSERT_EQ(reply.stalls_size(), 1);
  EXPECT_EQ(reply.stalls(0).tensor(), "w");
  EXPECT_THAT(reply.stalls(0).submitted_by(), ElementsAre(0, 1, 2));
  EXPECT_THAT(reply.stalls(0).missing(), ElementsAre(3));
}

TEST(StatusSnapshotTest, AStoppedRuntimeSaysWhy) {
  RuntimeState state = TwoGroupsOfTwo();
  state.running = false;
  EXPECT_EQ(MakeStatusReply(state).stopped_reason(), "shut down");
  state.stopped_with = absl::DeadlineExceededError("node2 lost");
  EXPECT_EQ(MakeStatusReply(state).stopped_reason(), "DEADLINE_EXCEEDED: node2 lost");
  EXPECT_FALSE(MakeStatusReply(state).running());
}

}  // namespace
}  // namespace hilo
