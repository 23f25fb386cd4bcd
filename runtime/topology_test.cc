#include "runtime/topology.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

TEST(TopologyTest, EightRanksAsTwoGroupsOfFour) {
  absl::StatusOr<Topology> t = MakeTopology(6, 8, 6, 8, 8, 8, 4);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_groups, 2);
  EXPECT_EQ(t->group, 1);
  EXPECT_EQ(t->group_rank, 2);
  EXPECT_EQ(t->CommunicatorSize(CommunicatorKind::kGroup), 4);
  EXPECT_EQ(t->CommunicatorSize(CommunicatorKind::kCross), 2);
  EXPECT_EQ(t->CommunicatorRank(CommunicatorKind::kCross), 1);
  // Group 1 is ranks 4..7; cross set of member 2 is ranks 2 and 6.
  EXPECT_EQ(t->WorldRankOf(CommunicatorKind::kGroup, 0), 4);
  EXPECT_EQ(t->WorldRankOf(CommunicatorKind::kCross, 0), 2);
  EXPECT_EQ(t->WorldRankOf(CommunicatorKind::kCross, 1), 6);
  EXPECT_EQ(t->CommunicatorName(CommunicatorKind::kCross), "cross 2");
}

// Every rank's view must agree: the members it computes for each communicator are exactly the
// ranks that compute the same split color.
TEST(TopologyTest, ViewsAreConsistentAcrossRanks) {
  for (int group_size : {1, 2, 4, 8}) {
    std::vector<Topology> all;
    for (int r = 0; r < 8; ++r) all.push_back(*MakeTopology(r, 8, r, 8, 8, 8, group_size));
    for (const Topology& t : all) {
      for (CommunicatorKind kind : kAllCommunicatorKinds) {
        std::set<int> members;
        for (int c = 0; c < t.CommunicatorSize(kind); ++c) members.insert(t.WorldRankOf(kind, c));
        std::set<int> same_color;
        for (const Topology& other : all) {
          if (other.SplitColor(kind) == t.SplitColor(kind)) same_color.insert(other.world_rank);
        }
        EXPECT_EQ(members, same_color) << "G=" << group_size << " " << t.ToString();
        EXPECT_EQ(t.WorldRankOf(kind, t.CommunicatorRank(kind)), t.world_rank);
      }
    }
  }
}

TEST(TopologyTest, DefaultGroupIsTheNode) {
  absl::StatusOr<Topology> t = MakeTopology(5, 8, 1, 4, 4, 4, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->group_size, 4);
  EXPECT_EQ(t->group, 1);
}

TEST(TopologyTest, IndivisibleWorldIsAClearError) {
  absl::StatusOr<Topology> t = MakeTopology(0, 6, 0, 6, 6, 6, 4);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("HILO_GROUP_SIZE"));
  EXPECT_THAT(t.status().message(), HasSubstr("world size 6"));
  EXPECT_FALSE(MakeTopology(0, 4, 0, 4, 4, 4, 8).ok());  // larger than the world
}

TEST(TopologyTest, UnevenNodesNeedAnExplicitGroupSize) {
  absl::StatusOr<Topology> t = MakeTopology(0, 6, 0, 4, 2, 4, 0);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("different numbers of ranks"));
  EXPECT_TRUE(MakeTopology(0, 6, 0, 4, 2, 4, 3).ok());
}

}  // namespace
}  // namespace hilo
