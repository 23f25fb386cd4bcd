#include "runtime/averaging/averaging_rounds.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/local_job.h"
#include "runtime/observability/recording_observer.h"

namespace hilo {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr int64_t kCount = 3000;

// Four ranks as threads in two groups of two, each with its host planes and rounds, built as the
// runtime builds them at init.
class RoundsJob {
 public:
  RoundsJob(bool shared_memory, bool use_thread) : job_(4, 2), logger_(LogLevel::kWarning) {
    HostTransportOptions transport;
    transport.shm_allreduce = shared_memory;
    transport.cross_transport = RuntimeConfig::CrossTransport::kMpi;
    transport.peer_timeout = absl::Seconds(30);
    AveragingRoundsOptions options;
    options.use_thread = use_thread;
    options.segment_timeout = absl::Seconds(30);
    planes_.resize(4);
    rounds_.resize(4);
    job_.Run([&](int rank) {
      absl::StatusOr<std::unique_ptr<HostPlanes>> planes =
          HostPlanes::Create(job_.Communicators(rank), transport, logger_);
      ASSERT_TRUE(planes.ok()) << planes.status();
      planes_[rank] = *std::move(planes);
      absl::StatusOr<std::unique_ptr<AveragingRounds>> rounds = AveragingRounds::Create(
          job_.topology(rank), *planes_[rank], /*device=*/nullptr,
          job_.Communicators(rank)[static_cast<int>(CommunicatorKind::kGroup)], options,
          observer_, logger_);
      ASSERT_TRUE(rounds.ok()) << rounds.status();
      rounds_[rank] = *std::move(rounds);
    });
  }
  ~RoundsJob() {
    for (auto& rounds : rounds_) {
      if (rounds != nullptr) rounds->Close();
    }
    for (auto& planes : planes_) {
      if (planes != nullptr) planes->Close();
    }
  }

  // One round on every rank of `models` (rank r's model is models[r]); returns each rank's
  // outcome and whether its completion ran on the rank's own thread.
  struct Outcome {
    absl::Status status = absl::UnknownError("not completed");
    std::optional<double> discrepancy;
    bool completed_on_caller = false;
  };
  std::vector<Outcome> Round(std::vector<std::vector<float>>& models, AveragingAlgorithm algorithm,
                             bool check) {
    std::vector<Outcome> outcomes(4);
    job_.Run([&](int rank) {
      const std::thread::id caller = std::this_thread::get_id();
      TensorEntry entry;
      entry.request.name = "model";
      entry.request.collective = CollectiveType::kAverageAcrossGroups;
      entry.request.parameters = {ParameterTensor{models[rank].data(), DataType::kFloat32,
                                                  static_cast<int64_t>(models[rank].size())}};
      Outcome& outcome = outcomes[rank];
      entry.operation = std::make_shared<Operation>([&outcome, caller](const absl::Status&) {
        outcome.completed_on_caller = std::this_thread::get_id() == caller;
      });
      std::shared_ptr<Operation> operation = entry.operation;
      rounds_[rank]->Run(std::move(entry), algorithm, check);
      operation->WaitFor(absl::InfiniteDuration());
      outcome.status = operation->status();
      outcome.discrepancy = operation->discrepancy();
    });
    return outcomes;
  }

  LocalJob& job() { return job_; }
  AveragingRounds& rounds(int rank) { return *rounds_[rank]; }
  RecordingObserver& observer() { return observer_; }

 private:
  LocalJob job_;
  Logger logger_;
  RecordingObserver observer_;
  std::vector<std::unique_ptr<HostPlanes>> planes_;
  std::vector<std::unique_ptr<AveragingRounds>> rounds_;
};

// Group g's members hold 10 (g + 1) + i % 5: the average over both groups is 15 + i % 5.
std::vector<std::vector<float>> GroupModels(LocalJob& job) {
  std::vector<std::vector<float>> models(4, std::vector<float>(kCount));
  for (int rank = 0; rank < 4; ++rank) {
    for (int64_t i = 0; i < kCount; ++i) {
      models[rank][i] = 10.0f * (job.topology(rank).group + 1) + static_cast<float>(i % 5);
    }
  }
  return models;
}

void ExpectAveraged(const std::vector<std::vector<float>>& models) {
  for (int rank = 0; rank < 4; ++rank) {
    for (int64_t i = 0; i < kCount; ++i) {
      ASSERT_EQ(models[rank][i], 15.0f + static_cast<float>(i % 5)) << rank << " " << i;
    }
  }
}

TEST(AveragingRoundsTest, HostShardedRoundsRunOnTheThreadWhenTheGroupShareAMachine) {
  RoundsJob job(/*shared_memory=*/true, /*use_thread=*/true);
  EXPECT_TRUE(job.rounds(0).on_thread());
  std::vector<std::vector<float>> models = GroupModels(job.job());
  for (const auto& outcome : job.Round(models, AveragingAlgorithm::kSharded, /*check=*/true)) {
    ASSERT_TRUE(outcome.status.ok()) << outcome.status;
    EXPECT_FALSE(outcome.completed_on_caller);
    ASSERT_TRUE(outcome.discrepancy.has_value());
    EXPECT_GT(*outcome.discrepancy, 0.0);
  }
  ExpectAveraged(models);
  const std::vector<AveragingRecord> history = job.rounds(2).history();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].round, 1);
  EXPECT_EQ(history[0].elements, kCount);
  EXPECT_EQ(job.rounds(2).summary().rounds, 1);
  // The group step went through the rounds' own group communicator.
  EXPECT_GT(job.rounds(2).group_counters().bytes, 0);
  EXPECT_THAT(job.observer().events(), Contains("round model #1"));
}

TEST(AveragingRoundsTest, WithoutASharedMemoryGroupRoundsStayOnTheCaller) {
  RoundsJob job(/*shared_memory=*/false, /*use_thread=*/true);
  EXPECT_FALSE(job.rounds(0).on_thread());
  std::vector<std::vector<float>> models = GroupModels(job.job());
  for (const auto& outcome : job.Round(models, AveragingAlgorithm::kSharded, false)) {
    ASSERT_TRUE(outcome.status.ok()) << outcome.status;
    EXPECT_TRUE(outcome.completed_on_caller);
  }
  ExpectAveraged(models);
  EXPECT_EQ(job.rounds(0).group_counters().calls, 0);
}

TEST(AveragingRoundsTest, TheThreadCanBeTurnedOff) {
  RoundsJob job(/*shared_memory=*/true, /*use_thread=*/false);
  EXPECT_FALSE(job.rounds(3).on_thread());
}

TEST(AveragingRoundsTest, TheWorldAllreduceBaselineRunsOnTheCaller) {
  RoundsJob job(/*shared_memory=*/true, /*use_thread=*/true);
  std::vector<std::vector<float>> models = GroupModels(job.job());
  for (const auto& outcome : job.Round(models, AveragingAlgorithm::kWorldAllreduce, false)) {
    ASSERT_TRUE(outcome.status.ok()) << outcome.status;
    EXPECT_TRUE(outcome.completed_on_caller);
  }
  ExpectAveraged(models);
  EXPECT_EQ(job.rounds(1).history().at(0).algorithm, AveragingAlgorithm::kWorldAllreduce);
}

TEST(AveragingRoundsTest, AnInconsistentGroupFailsEveryRankAndLeavesNoRecord) {
  RoundsJob job(/*shared_memory=*/true, /*use_thread=*/true);
  std::vector<std::vector<float>> models = GroupModels(job.job());
  models[1][7] += 1.0f;  // rank 1 drifted from rank 0, its group's other member
  for (const auto& outcome : job.Round(models, AveragingAlgorithm::kSharded, /*check=*/true)) {
    EXPECT_TRUE(absl::IsFailedPrecondition(outcome.status)) << outcome.status;
  }
  EXPECT_TRUE(job.rounds(0).history().empty());
  EXPECT_EQ(job.rounds(0).summary().rounds, 0);
  EXPECT_THAT(job.observer().events(), Contains("round model failed"));
}

TEST(AveragingRoundsTest, RoundsAreNumberedInOrderAndCrossWorkWaitsForThem) {
  RoundsJob job(/*shared_memory=*/true, /*use_thread=*/true);
  std::vector<std::vector<float>> models = GroupModels(job.job());
  for (int round = 0; round < 3; ++round) {
    for (const auto& outcome : job.Round(models, AveragingAlgorithm::kSharded, false)) {
      ASSERT_TRUE(outcome.status.ok()) << outcome.status;
    }
  }
  job.job().Run([&](int rank) { job.rounds(rank).WaitBefore(CommunicatorKind::kCross); });
  const std::vector<AveragingRecord> history = job.rounds(0).history();
  ASSERT_EQ(history.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(history[i].round, i + 1);
  // Rounds after the first find the models already equal across groups.
  EXPECT_EQ(history[2].discrepancy, 0.0);
}

}  // namespace
}  // namespace hilo
