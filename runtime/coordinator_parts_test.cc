#include "runtime/coordinator_parts.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/observability/recording_observer.h"
#include "runtime/transport/local/local_session.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

class NoHooks final : public CycleHooks {
 public:
  RankState BeginCycle() override { return {}; }
  void SetControlSpin(absl::Duration) override {}
  void Execute(CommunicatorKind, const proto::ResponseList&) override {}
};

// Each rank of a job of threads builds its parts from `configs(rank)` with the in-process session.
struct Job {
  explicit Job(int world_size) : sessions(world_size, world_size), logger(LogLevel::kError) {}

  std::vector<absl::Status> Build(const std::function<RuntimeConfig(int)>& configs) {
    const int size = sessions.world_size();
    for (int rank = 0; rank < size; ++rank) {
      config.push_back(configs(rank));
      queues.push_back(std::make_unique<TensorQueue>());
      stalls.push_back(std::make_unique<StallInspector>(absl::Seconds(60), absl::ZeroDuration(),
                                                        &logger));
    }
    for (int rank = 0; rank < size; ++rank) {
      parts.push_back(std::make_unique<CoordinatorParts>(CoordinatorParts::Surroundings{
          config[rank], logger, Clock::System(), *queues[rank], *stalls[rank], observer, hooks}));
    }
    std::vector<absl::Status> built(size);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < size; ++rank) {
      threads.emplace_back([&, rank] {
        built[rank] = parts[rank]->Build([&] { return sessions.SessionFor(rank); });
      });
    }
    for (std::thread& thread : threads) thread.join();
    return built;
  }
  ~Job() {
    for (auto& part : parts) part->Release(absl::OkStatus());
  }

  transport::LocalJobSessions sessions;
  Logger logger;
  RecordingObserver observer{false};
  NoHooks hooks;
  std::vector<RuntimeConfig> config;
  std::vector<std::unique_ptr<TensorQueue>> queues;
  std::vector<std::unique_ptr<StallInspector>> stalls;
  std::vector<std::unique_ptr<CoordinatorParts>> parts;
};

TEST(CoordinatorPartsTest, EveryPartIsBuiltOnTheAgreedTopology) {
  Job job(4);
  const std::vector<absl::Status> built = job.Build([](int) {
    RuntimeConfig config;
    config.group_size = 2;
    return config;
  });
  for (const absl::Status& status : built) ASSERT_TRUE(status.ok()) << status;
  for (int rank = 0; rank < 4; ++rank) {
    const CoordinatorParts& parts = *job.parts[rank];
    EXPECT_EQ(parts.topology().world_rank, rank);
    EXPECT_EQ(parts.topology().group, rank / 2);
    ASSERT_NE(parts.host_planes(), nullptr);
    ASSERT_NE(parts.rounds(), nullptr);
    ASSERT_NE(parts.scheduler(), nullptr);
    EXPECT_EQ(parts.communicators()[static_cast<int>(CommunicatorKind::kCross)]->size(), 2);
    // One machine: the data paths are shared memory, and rounds go to their thread.
    EXPECT_TRUE(parts.host_planes()->uses_shared_memory(CommunicatorKind::kGroup));
    EXPECT_TRUE(parts.rounds()->on_thread());
  }
}

TEST(CoordinatorPartsTest, ASettingThatDiffersFailsEveryRankBeforeAnyTransportIsBuilt) {
  Job job(2);
  const std::vector<absl::Status> built = job.Build([](int rank) {
    RuntimeConfig config;
    config.cache_capacity = rank == 0 ? 64 : 128;
    return config;
  });
  for (const absl::Status& status : built) {
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr("HILO_CACHE_CAPACITY"));
  }
  EXPECT_EQ(job.parts[0]->host_planes(), nullptr);
}

}  // namespace
}  // namespace hilo
