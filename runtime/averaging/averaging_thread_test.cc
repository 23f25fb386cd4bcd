#include "runtime/averaging/averaging_thread.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "runtime/topology.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using transport::LocalCommunicator;

TEST(AveragingThreadTest, RunsRoundsInOrderOnItsOwnThread) {
  auto group = LocalCommunicator::CreateGroup(1, "group");
  auto cross = LocalCommunicator::CreateGroup(1, "cross");
  AveragingThread rounds(group[0].get(), cross[0].get());
  std::vector<int> order;
  std::thread::id ran_on;
  absl::Notification release;
  // The first round holds the thread until released: the ones behind it wait their turn.
  rounds.Submit([&] {
    release.WaitForNotification();
    ran_on = std::this_thread::get_id();
    order.push_back(1);
  });
  rounds.Submit([&] { order.push_back(2); });
  rounds.Submit([&] { order.push_back(3); });
  release.Notify();
  rounds.WaitUntilIdle();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(AveragingThreadTest, WaitUntilIdleWaitsForTheRoundInFlight) {
  auto group = LocalCommunicator::CreateGroup(1, "group");
  auto cross = LocalCommunicator::CreateGroup(1, "cross");
  AveragingThread rounds(group[0].get(), cross[0].get());
  absl::Notification started;
  bool finished = false;
  rounds.Submit([&] {
    started.Notify();
    absl::SleepFor(absl::Milliseconds(50));
    finished = true;
  });
  started.WaitForNotification();  // taken off the queue: only running_ says it is not idle
  rounds.WaitUntilIdle();
  EXPECT_TRUE(finished);
}

TEST(AveragingThreadTest, DestructionRunsTheQueuedRounds) {
  auto group = LocalCommunicator::CreateGroup(1, "group");
  auto cross = LocalCommunicator::CreateGroup(1, "cross");
  int ran = 0;
  {
    AveragingThread rounds(group[0].get(), cross[0].get());
    for (int i = 0; i < 5; ++i) rounds.Submit([&] { ++ran; });
  }
  EXPECT_EQ(ran, 5);
}

// Four ranks as threads, two groups of two: each rank's round runs on its averaging thread over
// that thread's planes while the rank's own thread drives its own group communicator (what the
// coordinator's gradient allreduces do meanwhile): both give the right results.
TEST(AveragingThreadTest, ShardedRoundOnThePlanesBesideGroupTraffic) {
  constexpr int kGroups = 2, kGroupSize = 2, kWorld = kGroups * kGroupSize;
  constexpr int64_t kCount = 1000;
  std::vector<std::vector<std::unique_ptr<LocalCommunicator>>> round_groups, busy_groups, crosses;
  for (int g = 0; g < kGroups; ++g) {
    round_groups.push_back(LocalCommunicator::CreateGroup(kGroupSize, "round group"));
    busy_groups.push_back(LocalCommunicator::CreateGroup(kGroupSize, "gradient group"));
  }
  for (int j = 0; j < kGroupSize; ++j) crosses.push_back(LocalCommunicator::CreateGroup(kGroups, "cross"));
  auto world = LocalCommunicator::CreateGroup(kWorld, "world");
  std::vector<std::vector<float>> models(kWorld, std::vector<float>(kCount));
  std::vector<absl::StatusOr<AveragingRoundResult>> results(kWorld, absl::UnknownError("not run"));
  std::vector<float> gradient_sums(kWorld);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kWorld; ++r) {
    ranks.emplace_back([&, r] {
      const int g = r / kGroupSize, j = r % kGroupSize;
      for (int64_t i = 0; i < kCount; ++i) models[r][i] = static_cast<float>(g + 1) * (i + 1);
      const Topology topology = *MakeTopology(r, kWorld, r, kWorld, kWorld, kWorld, kGroupSize);
      CrossGroupAverager averager(topology, world[r].get());
      AveragingThread rounds(round_groups[g][j].get(), crosses[j][g].get());
      absl::Notification done;
      rounds.Submit([&] {
        results[r] = averager.Run({ParameterTensor{models[r].data(), DataType::kFloat32, kCount}},
                                  AveragingAlgorithm::kSharded, /*check_group_consistency=*/false,
                                  rounds.planes());
        done.Notify();
      });
      float gradient = 0;
      for (int step = 0; step < 50; ++step) {
        float value = 1;
        ASSERT_TRUE(busy_groups[g][j]->AllreduceSum(&value, 1, DataType::kFloat32).ok());
        gradient += value;
      }
      gradient_sums[r] = gradient;
      done.WaitForNotification();
    });
  }
  for (std::thread& rank : ranks) rank.join();
  for (int r = 0; r < kWorld; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r].status();
    EXPECT_EQ(results[r]->elements, kCount);
    EXPECT_EQ(gradient_sums[r], 50.0f * kGroupSize);
    for (int64_t i = 0; i < kCount; ++i) {
      ASSERT_FLOAT_EQ(models[r][i], 1.5f * (i + 1)) << "rank " << r << " element " << i;
    }
  }
}

}  // namespace
}  // namespace hilo
