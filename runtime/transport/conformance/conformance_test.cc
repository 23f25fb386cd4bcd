// The conformance suite (conformance.h) on every in-process transport, threads as ranks: the
// thread transport itself, the shared-memory segment and the TCP ring over it (loopback), the
// counting decorator and the hierarchical world (group and cross under a world), at 1 to 4 ranks.
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/kernel_set.h"
#include "runtime/transport/hierarchical_communicator.h"
#include "runtime/transport/conformance/conformance.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/local/local_communicator.h"
#include "runtime/transport/shm/shm_communicator.h"
#include "runtime/transport/tcp/tcp_communicator.h"

namespace hilo::transport {
namespace {

using conformance::RunConformance;

// Runs `body(rank)` on a thread per rank.
void OnThreads(int size, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) threads.emplace_back(body, rank);
  for (std::thread& thread : threads) thread.join();
}

class ConformanceTest : public ::testing::TestWithParam<int> {};

TEST_P(ConformanceTest, LocalCommunicator) {
  auto ranks = LocalCommunicator::CreateGroup(GetParam(), "local");
  OnThreads(GetParam(), [&](int rank) {
    EXPECT_TRUE(ranks[rank]->capabilities().alltoall);
    RunConformance(*ranks[rank]);
  });
}

TEST_P(ConformanceTest, CountingCommunicator) {
  auto ranks = LocalCommunicator::CreateGroup(GetParam(), "counted");
  OnThreads(GetParam(), [&](int rank) {
    CountingCommunicator counted(ranks[rank].get());
    RunConformance(counted);
    EXPECT_GT(counted.counters().calls, 0);
  });
}

TEST_P(ConformanceTest, ShmCommunicator) {
  auto ranks = LocalCommunicator::CreateGroup(GetParam(), "shm");
  OnThreads(GetParam(), [&](int rank) {
    absl::StatusOr<std::unique_ptr<ShmCommunicator>> shm = ShmCommunicator::Create(
        ranks[rank].get(), ranks[rank].get(), ShmCommunicator::ThisNode(), absl::Seconds(60));
    ASSERT_TRUE(shm.ok()) << shm.status();
    EXPECT_TRUE((*shm)->capabilities().sums_slices);
    RunConformance(**shm);
  });
}

TEST_P(ConformanceTest, TcpCommunicator) {
  auto ranks = LocalCommunicator::CreateGroup(GetParam(), "tcp");
  OnThreads(GetParam(), [&](int rank) {
    absl::StatusOr<std::unique_ptr<TcpCommunicator>> tcp =
        TcpCommunicator::Create(ranks[rank].get(), "lo", absl::Seconds(60));
    ASSERT_TRUE(tcp.ok()) << tcp.status();
    EXPECT_FALSE((*tcp)->capabilities().sums_slices);
    RunConformance(**tcp);
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, ConformanceTest, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "ranks";
                         });

// The hierarchical world of 4 ranks in 2 groups of 2 (its allreduces go group, cross, group).
TEST(HierarchicalConformanceTest, TwoGroupsOfTwo) {
  auto world = LocalCommunicator::CreateGroup(4, "world");
  std::vector<std::vector<std::unique_ptr<LocalCommunicator>>> groups, crosses;
  for (int g = 0; g < 2; ++g) groups.push_back(LocalCommunicator::CreateGroup(2, "group"));
  for (int m = 0; m < 2; ++m) crosses.push_back(LocalCommunicator::CreateGroup(2, "cross"));
  OnThreads(4, [&](int rank) {
    const int group = rank / 2, member = rank % 2;
    std::unique_ptr<kernels::Workspace> shard = kernels::MakeHostWorkspace();
    HierarchicalCommunicator hierarchical(world[rank].get(), groups[group][member].get(),
                                          crosses[member][group].get(), shard.get());
    RunConformance(hierarchical);
  });
}

}  // namespace
}  // namespace hilo::transport
