#include "runtime/bootstrap.h"

#include <functional>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

// Every rank of a one-machine world of `size` agrees, rank r with config(r) and (by default)
// the place the session gives it on that machine.
std::vector<absl::StatusOr<Topology>> Agree(
    int size, const std::function<RuntimeConfig(int)>& config,
    const std::function<RankPlacement(int)>& placement = nullptr) {
  auto world = transport::LocalCommunicator::CreateGroup(size, "world");
  std::vector<absl::StatusOr<Topology>> topologies(size, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] {
      const RankPlacement place =
          placement ? placement(rank) : RankPlacement{rank, size, rank, size};
      topologies[rank] = AgreeOnTopology(*world[rank], place, config(rank));
    });
  }
  for (std::thread& thread : threads) thread.join();
  return topologies;
}

RuntimeConfig WithGroupSize(int group_size) {
  RuntimeConfig config;
  config.group_size = group_size;
  return config;
}

TEST(BootstrapTest, RanksThatAgreeGetTheirPlaceInTheTopology) {
  const auto topologies = Agree(4, [](int) { return WithGroupSize(2); });
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(topologies[rank].ok()) << topologies[rank].status();
    EXPECT_EQ(topologies[rank]->world_rank, rank);
    EXPECT_EQ(topologies[rank]->group_size, 2);
    EXPECT_EQ(topologies[rank]->num_groups, 2);
    EXPECT_EQ(topologies[rank]->group, rank / 2);
  }
}

TEST(BootstrapTest, DifferentGroupSizesFailEveryRankNamingWhoSetWhat) {
  const auto topologies = Agree(4, [](int rank) { return WithGroupSize(rank == 3 ? 4 : 2); });
  for (const auto& topology : topologies) {
    ASSERT_TRUE(absl::IsInvalidArgument(topology.status())) << topology.status();
    EXPECT_THAT(topology.status().message(), HasSubstr("HILO_GROUP_SIZE differs"));
    EXPECT_THAT(topology.status().message(), HasSubstr("rank 3"));
  }
}

TEST(BootstrapTest, SettingsThatMustBeEqualAreCheckedEverywhere) {
  const auto topologies = Agree(3, [](int rank) {
    RuntimeConfig config;
    if (rank == 1) config.fusion_threshold_bytes += 1;
    return config;
  });
  for (const auto& topology : topologies) {
    ASSERT_TRUE(absl::IsInvalidArgument(topology.status())) << topology.status();
    EXPECT_THAT(topology.status().message(), HasSubstr("HILO_FUSION_THRESHOLD"));
  }
}

TEST(BootstrapTest, ARankThatFailsAloneFailsTheOthersNamingIt) {
  // Rank 1 alone was told a place outside the world (a broken session): its own reason there,
  // and the others learn that rank 1 failed instead of waiting for it in the next collective.
  const auto topologies = Agree(3, [](int) { return WithGroupSize(1); }, [](int rank) {
    return RankPlacement{rank == 1 ? 7 : rank, 3, rank, 3};
  });
  for (int rank = 0; rank < 3; ++rank) {
    ASSERT_TRUE(absl::IsInvalidArgument(topologies[rank].status())) << topologies[rank].status();
  }
  EXPECT_THAT(topologies[0].status().message(), HasSubstr("failed on rank(s) 1"));
  EXPECT_THAT(topologies[2].status().message(), HasSubstr("failed on rank(s) 1"));
  EXPECT_THAT(topologies[1].status().message(), ::testing::Not(HasSubstr("failed on rank(s)")));
}

}  // namespace
}  // namespace hilo
