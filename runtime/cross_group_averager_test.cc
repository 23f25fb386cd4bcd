#include "runtime/cross_group_averager.h"

#include <cmath>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;
using transport::LocalCommunicator;

// P = k * G ranks as threads, each with world, group and cross communicators (counted).
class Job {
 public:
  Job(int num_groups, int group_size) : k_(num_groups), g_(group_size) {
    const int p = k_ * g_;
    world_ = LocalCommunicator::CreateGroup(p, "world");
    for (int group = 0; group < k_; ++group) groups_.push_back(LocalCommunicator::CreateGroup(g_, "group"));
    for (int member = 0; member < g_; ++member) crosses_.push_back(LocalCommunicator::CreateGroup(k_, "cross"));
    for (int r = 0; r < p; ++r) {
      std::vector<std::unique_ptr<transport::CountingCommunicator>> mine;
      mine.push_back(std::make_unique<transport::CountingCommunicator>(world_[r].get()));
      mine.push_back(std::make_unique<transport::CountingCommunicator>(groups_[r / g_][r % g_].get()));
      mine.push_back(std::make_unique<transport::CountingCommunicator>(crosses_[r % g_][r / g_].get()));
      counted_.push_back(std::move(mine));
    }
  }

  // Runs body(rank, averager) on every rank.
  void Run(const std::function<void(int, CrossGroupAverager&)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < k_ * g_; ++r) {
      threads.emplace_back([&, r] {
        Topology topology = *MakeTopology(r, k_ * g_, r, k_ * g_, k_ * g_, k_ * g_, g_);
        CrossGroupAverager averager(topology, counted_[r][0].get(), counted_[r][1].get(),
                                    counted_[r][2].get());
        body(r, averager);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }

  transport::TransportCounters counters(int rank, CommunicatorKind kind) {
    return counted_[rank][static_cast<int>(kind)]->counters();
  }

 private:
  int k_, g_;
  std::vector<std::unique_ptr<LocalCommunicator>> world_;
  std::vector<std::vector<std::unique_ptr<LocalCommunicator>>> groups_, crosses_;
  std::vector<std::vector<std::unique_ptr<transport::CountingCommunicator>>> counted_;
};

// Group g's model: element i of tensor t is (g + 1) * (i + 1) / (t + 1), identical in a group.
double ModelValue(int group, int tensor, int64_t i) { return (group + 1.0) * (i + 1.0) / (tensor + 1.0); }

struct Layout {
  std::vector<int64_t> sizes;
  std::vector<DataType> dtypes;
};

// Uneven sizes: a tensor smaller than G, a total not divisible by G, mixed dtypes.
const Layout kMixed = {{3, 1000, 1, 257, 64}, {DataType::kFloat32, DataType::kFloat64, DataType::kFloat32,
                                            DataType::kFloat32, DataType::kFloat64}};

void ExpectAveragedModel(int num_groups, int group_size, AveragingAlgorithm algorithm) {
  Job job(num_groups, group_size);
  job.Run([&](int rank, CrossGroupAverager& averager) {
    const int group = rank / group_size;
    std::vector<std::vector<double>> f64(kMixed.sizes.size());
    std::vector<std::vector<float>> f32(kMixed.sizes.size());
    std::vector<ParameterTensor> tensors;
    for (size_t t = 0; t < kMixed.sizes.size(); ++t) {
      if (kMixed.dtypes[t] == DataType::kFloat64) {
        for (int64_t i = 0; i < kMixed.sizes[t]; ++i) f64[t].push_back(ModelValue(group, t, i));
        tensors.push_back({f64[t].data(), DataType::kFloat64, kMixed.sizes[t]});
      } else {
        for (int64_t i = 0; i < kMixed.sizes[t]; ++i) f32[t].push_back(static_cast<float>(ModelValue(group, t, i)));
        tensors.push_back({f32[t].data(), DataType::kFloat32, kMixed.sizes[t]});
      }
    }
    absl::StatusOr<AveragingRoundResult> result = averager.Run(tensors, algorithm, true);
    ASSERT_TRUE(result.ok()) << result.status();
    // The average over groups of (g + 1) is (k + 1) / 2.
    const double factor = (num_groups + 1) / 2.0;
    double diff = 0, norm = 0;
    for (size_t t = 0; t < kMixed.sizes.size(); ++t) {
      for (int64_t i = 0; i < kMixed.sizes[t]; ++i) {
        const double expected = factor * ModelValue(0, t, i);
        const double actual = kMixed.dtypes[t] == DataType::kFloat64 ? f64[t][i] : f32[t][i];
        ASSERT_NEAR(actual, expected, 1e-6 * std::fabs(expected)) << "tensor " << t << " element " << i;
        for (int g = 0; g < num_groups; ++g) {
          const double d = ModelValue(g, t, i) - expected;
          diff += d * d;
        }
        norm += expected * expected;
      }
    }
    EXPECT_EQ(result->elements, 1325);
    EXPECT_NEAR(result->discrepancy, diff / (num_groups * norm), 1e-6 * result->discrepancy + 1e-12);
  });
}

TEST(CrossGroupAveragerTest, ShardedAveragesExactlyAcrossLayouts) {
  ExpectAveragedModel(2, 4, AveragingAlgorithm::kSharded);
  ExpectAveragedModel(4, 2, AveragingAlgorithm::kSharded);
  ExpectAveragedModel(3, 3, AveragingAlgorithm::kSharded);
}

TEST(CrossGroupAveragerTest, BaselineGivesTheSameResult) {
  ExpectAveragedModel(2, 4, AveragingAlgorithm::kWorldAllreduce);
  ExpectAveragedModel(4, 2, AveragingAlgorithm::kWorldAllreduce);
}

TEST(CrossGroupAveragerTest, PlainLocalSgdAndPlainSynchronousAreSpecialCases) {
  ExpectAveragedModel(8, 1, AveragingAlgorithm::kSharded);  // P groups of one: local SGD
  ExpectAveragedModel(1, 8, AveragingAlgorithm::kSharded);  // one group of P: a no-op, D = 0
}

TEST(CrossGroupAveragerTest, ShardedMovesGTimesLessAcrossGroups) {
  constexpr int64_t kElements = 1000003;  // not divisible by G
  for (AveragingAlgorithm algorithm : {AveragingAlgorithm::kSharded, AveragingAlgorithm::kWorldAllreduce}) {
    Job job(2, 4);
    job.Run([&](int rank, CrossGroupAverager& averager) {
      std::vector<float> model(kElements, static_cast<float>(rank / 4));
      ParameterTensor tensor{model.data(), DataType::kFloat32, kElements};
      ASSERT_TRUE(averager.Run({&tensor, 1}, algorithm, false).ok());
    });
    for (int rank = 0; rank < 8; ++rank) {
      const int64_t shard_bytes = ShardSize(kElements, 4, rank % 4) * 4;
      const transport::TransportCounters cross = job.counters(rank, CommunicatorKind::kCross);
      const transport::TransportCounters group = job.counters(rank, CommunicatorKind::kGroup);
      const transport::TransportCounters world = job.counters(rank, CommunicatorKind::kWorld);
      if (algorithm == AveragingAlgorithm::kSharded) {
        EXPECT_EQ(cross.bytes, shard_bytes);   // about N/G * 4
        EXPECT_EQ(group.bytes, shard_bytes);   // this rank's part of the allgather
        EXPECT_EQ(world.bytes, 16);            // the discrepancy partials only
      } else {
        EXPECT_EQ(cross.bytes, 0);
        EXPECT_EQ(group.bytes, 0);
        EXPECT_EQ(world.bytes, kElements * 4 + 16);
      }
    }
  }
}

TEST(CrossGroupAveragerTest, InconsistentGroupFailsEveryRankNamingTheMembers) {
  Job job(2, 4);
  job.Run([&](int rank, CrossGroupAverager& averager) {
    std::vector<float> model(100, static_cast<float>(rank / 4));
    if (rank == 6) model[42] += 1.0f;  // group 1, member 2 drifted
    ParameterTensor tensor{model.data(), DataType::kFloat32, 100};
    absl::StatusOr<AveragingRoundResult> result =
        averager.Run({&tensor, 1}, AveragingAlgorithm::kSharded, true);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(result.status().message(), HasSubstr("group 1: rank 6 differs from ranks 4, 5, 7"));
    EXPECT_EQ(model[0], static_cast<float>(rank / 4));  // untouched
  });
}

TEST(CrossGroupAveragerTest, IntegersAreRejected) {
  Job job(1, 1);
  job.Run([&](int, CrossGroupAverager& averager) {
    int32_t value = 1;
    ParameterTensor tensor{&value, DataType::kInt32, 1};
    EXPECT_EQ(averager.Run({&tensor, 1}, AveragingAlgorithm::kSharded, false).status().code(),
              absl::StatusCode::kInvalidArgument);
  });
}

TEST(ShardTest, SizesCoverTheBufferWithoutGaps) {
  for (int64_t total : {0, 1, 3, 7, 8, 1000003}) {
    for (int shards : {1, 2, 3, 4, 8}) {
      int64_t covered = 0;
      for (int j = 0; j < shards; ++j) {
        EXPECT_EQ(ShardOffset(total, shards, j), covered);
        covered += ShardSize(total, shards, j);
        EXPECT_LE(ShardSize(total, shards, j), total / shards + 1);
      }
      EXPECT_EQ(covered, total);
    }
  }
}

}  // namespace
}  // namespace hilo
