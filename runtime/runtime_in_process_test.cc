// Whole runtimes as threads of one process (transport/local/local_session.h): start-up,
// negotiation, cache, fusion, join, uneven steps, stalls, averaging and shutdown, end to end,
// without mpirun. The MPI tests (tests/mpi) run the same runtime over MPI between processes.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/local_job.h"
#include "runtime/runtime.h"
#include "runtime/transport/local/local_session.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

// Runs `body(rank, runtime)` on one thread per rank of a job of `world_size` ranks (all on one
// pretend machine), each with its own Runtime started from `config`; shuts each down after and
// returns what each Shutdown returned (the error its runtime stopped with, if any).
std::vector<absl::Status> RunJobAndStop(int world_size, const RuntimeConfig& config,
                                        const std::function<void(int, Runtime&)>& body,
                                        Clock& clock = Clock::System()) {
  transport::LocalJobSessions sessions(world_size, world_size);
  std::vector<absl::Status> stopped(world_size, absl::UnknownError("did not start"));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      absl::StatusOr<std::unique_ptr<Runtime>> runtime =
          Runtime::Start(config, [&] { return sessions.SessionFor(rank); }, clock);
      ASSERT_TRUE(runtime.ok()) << runtime.status();
      body(rank, **runtime);
      stopped[rank] = (*runtime)->Shutdown();
    });
  }
  for (std::thread& thread : threads) thread.join();
  return stopped;
}

// The same, for jobs that end with a clean shutdown on every rank.
void RunJob(int world_size, const RuntimeConfig& config,
            const std::function<void(int, Runtime&)>& body) {
  for (const absl::Status& status : RunJobAndStop(world_size, config, body)) {
    EXPECT_TRUE(status.ok()) << status;
  }
}

RuntimeConfig GroupsOf(int group_size) {
  RuntimeConfig config;
  config.group_size = group_size;
  config.log_level = LogLevel::kError;
  return config;
}

absl::Status Wait(const absl::StatusOr<std::shared_ptr<Operation>>& operation) {
  if (!operation.ok()) return operation.status();
  if (!(*operation)->WaitFor(absl::Seconds(60))) return absl::DeadlineExceededError("hangs");
  return (*operation)->status();
}

TEST(RuntimeInProcessTest, StartsWithTheTopologyItsRanksAgreedOn) {
  RunJob(4, GroupsOf(2), [](int rank, Runtime& runtime) {
    EXPECT_EQ(runtime.topology().world_rank, rank);
    EXPECT_EQ(runtime.topology().num_groups, 2);
    EXPECT_EQ(runtime.topology().group, rank / 2);
  });
}

TEST(RuntimeInProcessTest, TrainingStepsOfFusedGroupAllreducesAndARoundGiveExactResults) {
  RunJob(4, GroupsOf(2), [](int rank, Runtime& runtime) {
    std::vector<float> model(64, 10.0f * static_cast<float>(runtime.topology().group));
    for (int step = 0; step < 10; ++step) {
      std::vector<std::vector<float>> grads(3, std::vector<float>(32, static_cast<float>(rank)));
      std::vector<absl::StatusOr<std::shared_ptr<Operation>>> operations;
      for (int t = 0; t < 3; ++t) {
        operations.push_back(runtime.Enqueue(FloatTensor("grad" + std::to_string(t),
                                                    CommunicatorKind::kGroup, grads[t],
                                                    ReduceOp::kAverage)));
      }
      for (const auto& operation : operations) ASSERT_TRUE(Wait(operation).ok());
      const float group_mean = runtime.topology().group == 0 ? 0.5f : 2.5f;  // {0,1}, {2,3}
      for (const auto& grad : grads) ASSERT_EQ(grad, std::vector<float>(32, group_mean));
    }
    TensorRequest round;
    round.name = "model";
    round.collective = CollectiveType::kAverageAcrossGroups;
    round.parameters = {ParameterTensor{model.data(), DataType::kFloat32, 64}};
    ASSERT_TRUE(Wait(runtime.Enqueue(std::move(round))).ok());
    EXPECT_EQ(model, std::vector<float>(64, 5.0f));
    EXPECT_GT(runtime.cache_stats().hits, 0);  // the steps' names repeat
    ASSERT_EQ(runtime.averaging_history().size(), 1u);
    EXPECT_GT(runtime.transport_counters(CommunicatorKind::kGroup).bytes, 0);
  });
}

TEST(RuntimeInProcessTest, AJoinedRankLetsTheOthersFinishTheirSteps) {
  RunJob(3, GroupsOf(1), [](int rank, Runtime& runtime) {
    const int steps = rank == 2 ? 1 : 4;  // rank 2 runs out of data first
    for (int step = 0; step < steps; ++step) {
      std::vector<float> grad(8, 1.0f);
      ASSERT_TRUE(Wait(runtime.Enqueue(FloatTensor("g", CommunicatorKind::kWorld, grad))).ok());
      EXPECT_EQ(grad, std::vector<float>(8, step == 0 ? 3.0f : 2.0f)) << "rank " << rank;
    }
    absl::StatusOr<int> last = runtime.Join();
    ASSERT_TRUE(last.ok()) << last.status();
    EXPECT_NE(*last, 2);  // the others joined after their fourth step
  });
}

TEST(RuntimeInProcessTest, ARankThatFinishedFailsWhatOnlyTheOthersSubmit) {
  // Rank 1 shuts down at once (RunJob's Shutdown); rank 0's extra tensor fails, without a hang.
  RunJob(2, GroupsOf(1), [](int rank, Runtime& runtime) {
    if (rank == 1) return;
    std::vector<float> extra(4, 1.0f);
    const absl::Status status = Wait(runtime.Enqueue(FloatTensor("extra", CommunicatorKind::kWorld, extra)));
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  });
}

// On a FakeClock that the test moves 100 ms at a time: a one-minute stall (the settings a job
// would use) stops the job after a minute of the clock's time, in well under a second of real
// time, and never sooner.
TEST(RuntimeInProcessTest, AStallLongerThanTheShutdownTimeStopsEveryRankNamingTheTensor) {
  RuntimeConfig config = GroupsOf(1);
  config.stall_warning = absl::Seconds(10);
  config.stall_shutdown = absl::Seconds(60);
  FakeClock clock;
  const absl::Time start = clock.Now();
  std::atomic<bool> finished{false};
  std::thread time_passes([&] {
    while (!finished.load()) {
      clock.Advance(absl::Milliseconds(100));
      absl::SleepFor(absl::Milliseconds(1));  // the ranks look at the clock in between
    }
  });
  std::atomic<int> stopped{0};
  const std::vector<absl::Status> shutdowns = RunJobAndStop(3, config, [&](int rank, Runtime& runtime) {
    if (rank != 2) {  // rank 2 never submits "late"
      std::vector<float> data(4, 1.0f);
      const absl::Status status = Wait(runtime.Enqueue(FloatTensor("late", CommunicatorKind::kWorld, data)));
      EXPECT_GE(clock.Now() - start, config.stall_shutdown);
      EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
      EXPECT_THAT(status.message(), HasSubstr("'late'"));
    }
    // Every rank's runtime stops by itself; its status says so.
    for (int i = 0; i < 6000 && runtime.running(); ++i) absl::SleepFor(absl::Milliseconds(10));
    if (!runtime.running()) ++stopped;
  }, clock);
  finished = true;
  time_passes.join();
  EXPECT_EQ(stopped.load(), 3);
  for (const absl::Status& status : shutdowns) EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
}

TEST(RuntimeInProcessTest, WorkAfterShutdownIsRefused) {
  RunJob(2, GroupsOf(1), [](int, Runtime& runtime) {
    ASSERT_TRUE(runtime.Shutdown().ok());
    std::vector<float> data(1, 1.0f);
    EXPECT_TRUE(absl::IsFailedPrecondition(
        runtime.Enqueue(FloatTensor("after", CommunicatorKind::kWorld, data)).status()));
  });
}

}  // namespace
}  // namespace hilo
