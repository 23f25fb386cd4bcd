#include "runtime/negotiation/cycle_scheduler.h"

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/averaging/averaging_rounds.h"
#include "runtime/execution/host_planes.h"
#include "runtime/local_job.h"
#include "runtime/observability/recording_observer.h"
#include "runtime/execution/response_executor.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

// What a rank's runtime does for its scheduler: shutdown on request, responses to the executor.
class TestHooks final : public CycleHooks {
 public:
  explicit TestHooks(ResponseExecutor* executor) : executor_(executor) {}
  RankState BeginCycle() override { return {shutdown_.load(), false}; }
  void SetControlSpin(absl::Duration) override {}
  void Execute(CommunicatorKind kind, const proto::ResponseList& responses) override {
    executor_->Execute(kind, responses, /*joined=*/false);
  }
  void RequestShutdown() { shutdown_ = true; }

 private:
  ResponseExecutor* executor_;
  std::atomic<bool> shutdown_{false};
};

// A job of threads as ranks, each running the coordinator's cycles over in-process
// communicators: negotiation, cache, fusion, execution and rounds as in a runtime.
class CyclingJob {
 public:
  struct Settings {
    absl::Duration stall_warning = absl::Milliseconds(50);
    absl::Duration stall_shutdown = absl::ZeroDuration();  // never
    Clock* clock = &Clock::System();
    absl::Duration cycle_time = absl::Milliseconds(1);
  };

  CyclingJob(int world_size, int group_size) : CyclingJob(world_size, group_size, Settings()) {}
  CyclingJob(int world_size, int group_size, const Settings& settings)
      : settings_(settings), job_(world_size, group_size), logger_(LogLevel::kError),
        results_(world_size, absl::UnknownError("still running")) {
    for (int rank = 0; rank < world_size; ++rank) {
      ranks_.emplace_back(*settings.clock);
      ranks_[rank].stalls = std::make_unique<StallInspector>(
          settings.stall_warning, settings.stall_shutdown, &logger_);
    }
    // Built together (collective), then each rank cycles on its own thread.
    job_.Run([&](int rank) { Build(rank); });
    for (int rank = 0; rank < world_size; ++rank) {
      threads_.emplace_back([this, rank] {
        results_[rank] = ranks_[rank].scheduler->Run();
        stopped_.fetch_add(1);
      });
    }
  }
  ~CyclingJob() {
    ShutDown();
    for (Rank& rank : ranks_) rank.execution.Close();
  }

  std::shared_ptr<Operation> Enqueue(int rank, TensorRequest request) {
    return ranks_[rank].execution.Enqueue(std::move(request));
  }
  // Every rank asks to shut down; returns once every scheduler has stopped.
  void ShutDown() {
    for (Rank& rank : ranks_) rank.hooks->RequestShutdown();
    for (Rank& rank : ranks_) rank.execution.queue.Wake();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  void RequestShutdown(int rank) {
    ranks_[rank].hooks->RequestShutdown();
    ranks_[rank].execution.queue.Wake();
  }
  void Join() {
    for (std::thread& thread : threads_) thread.join();
  }
  const absl::Status& result(int rank) const { return results_[rank]; }
  // How many schedulers have returned from Run.
  int stopped() const { return stopped_.load(); }
  // Cycles `rank` has run (one agreement each in a single-group job).
  int64_t cycles(int rank) const {
    const AgreementCounts counts = scheduler(rank).agreement_counts();
    return counts.world + counts.group;
  }
  const CycleScheduler& scheduler(int rank) const { return *ranks_[rank].scheduler; }
  const Topology& topology(int rank) const { return job_.topology(rank); }

 private:
  struct Rank {
    explicit Rank(Clock& clock) : execution(clock) {}
    LocalExecution execution;
    std::array<std::unique_ptr<Controller>, kNumCommunicatorKinds> controllers;
    std::unique_ptr<StallInspector> stalls;
    std::unique_ptr<TestHooks> hooks;
    std::unique_ptr<CycleScheduler> scheduler;
  };

  void Build(int rank) {
    Rank& mine = ranks_[rank];
    const Topology& topology = job_.topology(rank);
    NegotiationChannels channels;
    for (CommunicatorKind kind : kAllCommunicatorKinds) {
      const int index = static_cast<int>(kind);
      transport::LocalCommunicator& communicator = job_.Communicator(rank, kind);
      mine.controllers[index] = std::make_unique<Controller>(
          &communicator, topology.CommunicatorName(kind), rank, /*fusion_threshold_bytes=*/1 << 20,
          /*cache_capacity=*/64, *settings_.clock);
      std::vector<int> members;
      for (int member = 0; member < communicator.size(); ++member) {
        members.push_back(topology.WorldRankOf(kind, member));
      }
      mine.controllers[index]->set_member_world_ranks(members);
      mine.controllers[index]->set_stall_warning(settings_.stall_warning);
      channels.controllers[index] = mine.controllers[index].get();
    }
    mine.execution.Build(job_, rank, observer_, logger_);
    for (CommunicatorKind kind : kAllCommunicatorKinds) {
      channels.agreements[static_cast<int>(kind)] = &mine.execution.planes->AgreementChannel(kind);
    }
    channels.world = &job_.Communicator(rank, CommunicatorKind::kWorld);
    mine.hooks = std::make_unique<TestHooks>(mine.execution.executor.get());
    mine.scheduler = std::make_unique<CycleScheduler>(
        topology, CycleScheduler::Options{settings_.cycle_time, absl::ZeroDuration(),
                                          settings_.stall_warning},
        mine.execution.queue, channels, *mine.stalls, observer_, *mine.hooks, logger_,
        *settings_.clock);
  }

  const Settings settings_;
  LocalJob job_;
  Logger logger_;
  RecordingObserver observer_{/*listening=*/false};
  std::deque<Rank> ranks_;  // not movable: built in place
  std::atomic<int> stopped_{0};
  std::vector<absl::Status> results_;
  std::vector<std::thread> threads_;
};

bool AllDone(const std::vector<std::shared_ptr<Operation>>& operations) {
  for (const auto& operation : operations) {
    if (!operation->WaitFor(absl::Seconds(60))) return false;
  }
  return true;
}

TEST(CycleSchedulerTest, StepsOfGroupAllreducesCompleteAndAreAgreedInTheGroup) {
  CyclingJob job(4, 2);
  constexpr int kSteps = 20;
  for (int step = 0; step < kSteps; ++step) {
    std::vector<std::vector<float>> a(4), b(4);
    std::vector<std::shared_ptr<Operation>> operations;
    for (int rank = 0; rank < 4; ++rank) {
      a[rank].assign(16, static_cast<float>(rank + step));
      b[rank].assign(3, 1.0f);
      operations.push_back(job.Enqueue(rank, FloatTensor("a", CommunicatorKind::kGroup, a[rank])));
      operations.push_back(job.Enqueue(rank, FloatTensor("b", CommunicatorKind::kGroup, b[rank])));
    }
    ASSERT_TRUE(AllDone(operations)) << "step " << step << " hangs";
    for (const auto& operation : operations) ASSERT_TRUE(operation->status().ok()) << operation->status();
    for (int rank = 0; rank < 4; ++rank) {
      const int first = rank < 2 ? 0 : 2;  // groups {0, 1} and {2, 3}
      ASSERT_EQ(a[rank], std::vector<float>(16, static_cast<float>(2 * first + 1 + 2 * step)));
      ASSERT_EQ(b[rank], std::vector<float>(3, 2.0f));
    }
  }
  job.ShutDown();
  for (int rank = 0; rank < 4; ++rank) EXPECT_TRUE(job.result(rank).ok()) << job.result(rank);
  // The steps' agreements were the group's; the repeated names hit the cache.
  EXPECT_GE(job.scheduler(0).agreement_counts().group, kSteps);
  EXPECT_GT(job.scheduler(0).cache_stats(CommunicatorKind::kGroup).hits, 0);
}

TEST(CycleSchedulerTest, WorldCrossAndRoundWorkRunsInWorldCycles) {
  CyclingJob job(4, 2);
  std::vector<std::vector<float>> world(4), cross(4), model(4);
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 4; ++rank) {
    world[rank].assign(5, 1.0f);
    cross[rank].assign(5, static_cast<float>(rank));
    model[rank].assign(50, 4.0f * static_cast<float>(job.topology(rank).group));
    operations.push_back(job.Enqueue(rank, FloatTensor("w", CommunicatorKind::kWorld, world[rank])));
    operations.push_back(job.Enqueue(rank, FloatTensor("c", CommunicatorKind::kCross, cross[rank])));
    TensorRequest round;
    round.name = "model";
    round.collective = CollectiveType::kAverageAcrossGroups;
    round.parameters = {ParameterTensor{model[rank].data(), DataType::kFloat32, 50}};
    operations.push_back(job.Enqueue(rank, std::move(round)));
  }
  ASSERT_TRUE(AllDone(operations));
  for (const auto& operation : operations) ASSERT_TRUE(operation->status().ok()) << operation->status();
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_EQ(world[rank], std::vector<float>(5, 4.0f));
    // Cross communicators {0, 2} and {1, 3}.
    EXPECT_EQ(cross[rank], std::vector<float>(5, rank % 2 == 0 ? 2.0f : 4.0f));
    EXPECT_EQ(model[rank], std::vector<float>(50, 2.0f));
  }
  EXPECT_GT(job.scheduler(3).agreement_counts().world, 0);
}

TEST(CycleSchedulerTest, ATensorAFinishedRankNeverSubmitsFailsInsteadOfHanging) {
  CyclingJob job(2, 1);
  std::vector<float> data(4, 1.0f);
  std::shared_ptr<Operation> lonely = job.Enqueue(0, FloatTensor("x", CommunicatorKind::kWorld, data));
  job.RequestShutdown(1);
  ASSERT_TRUE(lonely->WaitFor(absl::Seconds(60)));
  EXPECT_TRUE(absl::IsFailedPrecondition(lonely->status())) << lonely->status();
  job.ShutDown();
  EXPECT_TRUE(job.result(0).ok()) << job.result(0);
  EXPECT_TRUE(job.result(1).ok()) << job.result(1);
}

TEST(CycleSchedulerTest, AStallLongerThanTheShutdownTimeStopsEveryRankNamingIt) {
  CyclingJob job(3, 1, {absl::Milliseconds(50), /*stall_shutdown=*/absl::Milliseconds(200)});
  std::vector<std::vector<float>> data(3, std::vector<float>(4, 1.0f));
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank : {0, 1}) {  // rank 2 never submits "s"
    operations.push_back(job.Enqueue(rank, FloatTensor("s", CommunicatorKind::kWorld, data[rank])));
  }
  job.Join();  // every scheduler stops by itself
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(job.result(rank))) << job.result(rank);
    EXPECT_THAT(job.result(rank).message(), HasSubstr("'s'"));
  }
}

// On a FakeClock nothing happens until the test moves time: which cycle starts when is decided by
// the clock, and the test sees each decision.
TEST(CycleSchedulerTest, CyclesStartWhenTheClockSaysAndAnIdleRankBacksOff) {
  FakeClock clock;
  CyclingJob job(1, 1, {absl::Milliseconds(50), absl::ZeroDuration(), &clock});
  ASSERT_TRUE(clock.AwaitSleepers(1));
  const int64_t first = job.cycles(0);
  // Half a cycle time: no cycle is due.
  clock.Advance(absl::Microseconds(500));
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(job.cycles(0), first);
  // Each cycle time that passes starts one cycle, for the first hundred idle cycles.
  for (int i = 1; i <= 50; ++i) {
    clock.Advance(absl::Milliseconds(1));
    ASSERT_TRUE(clock.AwaitSleepers(1));
    ASSERT_EQ(job.cycles(0), first + i);
  }
  // Long idle: the pause has grown to its 50 ms limit.
  for (int i = 0; i < 200; ++i) {
    clock.Advance(absl::Milliseconds(1));
    ASSERT_TRUE(clock.AwaitSleepers(1));
  }
  const int64_t backed_off = job.cycles(0);
  EXPECT_LT(backed_off, first + 250);
  clock.Advance(absl::Milliseconds(50));  // passes exactly one deadline
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(job.cycles(0), backed_off + 1);
  clock.Advance(absl::Milliseconds(49));
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(job.cycles(0), backed_off + 1);
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(job.cycles(0), backed_off + 2);
  // Work does not wait for the clock: an enqueue starts a cycle at once.
  std::vector<float> data(4, 2.0f);
  std::shared_ptr<Operation> operation =
      job.Enqueue(0, FloatTensor("now", CommunicatorKind::kWorld, data));
  ASSERT_TRUE(operation->WaitFor(absl::Seconds(60)));
  EXPECT_TRUE(operation->status().ok()) << operation->status();
  EXPECT_GT(job.cycles(0), backed_off + 2);
}

// The stall timeout is the clock's: a 30-second stall stops the job after 30 seconds of the
// clock's time, however little real time passes, and never before.
TEST(CycleSchedulerTest, AStallStopsTheJobWhenTheClockPassesTheShutdownTime) {
  FakeClock clock;
  const absl::Duration shutdown = absl::Seconds(30);
  CyclingJob job(3, 1, {absl::Seconds(5), shutdown, &clock});
  std::vector<std::vector<float>> data(3, std::vector<float>(4, 1.0f));
  const absl::Time enqueued = clock.Now();
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank : {0, 1}) {  // rank 2 never submits "s"
    operations.push_back(job.Enqueue(rank, FloatTensor("s", CommunicatorKind::kWorld, data[rank])));
  }
  absl::Time first_stop = absl::InfiniteFuture();
  const absl::Time real_limit = absl::Now() + absl::Seconds(120);
  while (job.stopped() < 3 && absl::Now() < real_limit) {
    clock.Advance(absl::Milliseconds(100));
    absl::SleepFor(absl::Milliseconds(1));  // let the ranks look at the clock
    if (job.stopped() > 0 && first_stop == absl::InfiniteFuture()) first_stop = clock.Now();
  }
  job.Join();
  EXPECT_GE(first_stop - enqueued, shutdown);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(job.result(rank))) << job.result(rank);
    EXPECT_THAT(job.result(rank).message(), HasSubstr("'s'"));
  }
}

// Moves `clock` until `done` holds (or two minutes of real time pass) to the earliest deadline a
// rank sleeps until, by at most `step`, each time once the job's `ranks` all sleep on it — or
// after 100 ms of real time, when some rank waits in an agreement for a peer that sleeps (the
// peer's deadline is then the next) — so that time moves only while the ranks wait for it, from
// one decision to the next.
void DriveClock(FakeClock& clock, int ranks, absl::Duration step,
                const std::function<bool()>& done) {
  const absl::Time real_limit = absl::Now() + absl::Minutes(2);
  while (!done() && absl::Now() < real_limit) {
    // Long enough that a rank merely slow to be scheduled (a loaded machine, a sanitizer build)
    // is not overtaken by the clock; a rank waiting for a sleeping peer costs this much per step.
    clock.AwaitSleepers(ranks, absl::Milliseconds(100));
    clock.AdvanceToNextDeadline(step);
  }
}

// With a long cycle time (one second, as the MPI test cycle_pacing_mpi_test uses): a rank that
// reported a tensor its peer submits one cycle late catches up at once instead of waiting out
// its cycle time, so the late submission completes within a fraction of the cycle time.
TEST(CycleSchedulerTest, APeerOneCycleBehindDoesNotWaitOutTheCycleTime) {
  FakeClock clock;
  CyclingJob::Settings settings;
  settings.clock = &clock;
  settings.cycle_time = absl::Seconds(1);
  CyclingJob job(2, 2, settings);
  std::vector<std::vector<float>> a(2, std::vector<float>(1, 1.0f));
  std::vector<std::vector<float>> b(2, std::vector<float>(1, 1.0f));
  // Rank 0 reports "a" then "b"; rank 1 reports "b" first, so neither is agreed in that cycle.
  std::shared_ptr<Operation> a0 = job.Enqueue(0, FloatTensor("a", CommunicatorKind::kWorld, a[0]));
  std::shared_ptr<Operation> b1 = job.Enqueue(1, FloatTensor("b", CommunicatorKind::kWorld, b[1]));
  DriveClock(clock, 2, absl::Milliseconds(10),
             [&] { return job.cycles(0) >= 2 && job.cycles(1) >= 2; });
  std::shared_ptr<Operation> b0 = job.Enqueue(0, FloatTensor("b", CommunicatorKind::kWorld, b[0]));
  const absl::Time submitted = clock.Now();
  std::shared_ptr<Operation> a1 = job.Enqueue(1, FloatTensor("a", CommunicatorKind::kWorld, a[1]));
  DriveClock(clock, 2, absl::Milliseconds(10), [&] { return a1->done(); });
  const absl::Duration late_latency = clock.Now() - submitted;
  ASSERT_TRUE(AllDone({a0, a1, b0, b1}));
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(a[rank][0], 2.0f);
    EXPECT_EQ(b[rank][0], 2.0f);
  }
  EXPECT_LT(late_latency, absl::Milliseconds(300))
      << "the late submission waited out the cycle time";
}

// Ranks that disagree for good (a stall) do not agree in a loop: their catching-up pauses double
// from 50 us to the cycle time, then one agreement per cycle time.
TEST(CycleSchedulerTest, RanksThatDisagreeForGoodFallBackToTheCycleTime) {
  FakeClock clock;
  CyclingJob::Settings settings;
  settings.clock = &clock;
  settings.cycle_time = absl::Seconds(1);
  CyclingJob job(2, 2, settings);
  std::vector<std::vector<float>> data(2, std::vector<float>(1, 1.0f));
  std::shared_ptr<Operation> x = job.Enqueue(0, FloatTensor("x", CommunicatorKind::kWorld, data[0]));
  std::shared_ptr<Operation> y = job.Enqueue(1, FloatTensor("y", CommunicatorKind::kWorld, data[1]));
  const int64_t before = job.cycles(0);
  const absl::Time start = clock.Now();
  DriveClock(clock, 2, absl::Milliseconds(100), [&] {
    return clock.Now() - start >= absl::Seconds(3) || job.cycles(0) - before > 1000;
  });
  ASSERT_GE(clock.Now() - start, absl::Seconds(3)) << "the clock did not get there in real time";
  // About 15 catching-up agreements, then one a second; an agreement loop counts thousands.
  EXPECT_LE(job.cycles(0) - before, 40);
  EXPECT_FALSE(x->done());
  EXPECT_FALSE(y->done());
}

TEST(CycleSchedulerTest, IdleCyclesBackOffUpToALimit) {
  const absl::Duration cycle = absl::Milliseconds(1);
  EXPECT_EQ(CycleScheduler::IdleCycleTime(cycle, 0), cycle);
  EXPECT_EQ(CycleScheduler::IdleCycleTime(cycle, 99), cycle);
  EXPECT_EQ(CycleScheduler::IdleCycleTime(cycle, 101), 2 * cycle);
  EXPECT_EQ(CycleScheduler::IdleCycleTime(cycle, 1000), absl::Milliseconds(50));
  // A cycle time above the limit is never shortened.
  EXPECT_EQ(CycleScheduler::IdleCycleTime(absl::Milliseconds(80), 1000), absl::Milliseconds(80));
}

}  // namespace
}  // namespace hilo
