// Cross-group averaging rounds through the client API, as every rank of MPI jobs in several
// layouts (see BUILD), with HILO_CHECK_GROUP_CONSISTENCY=1: results against the exact average,
// sharded against the baseline, the discrepancy against its definition, the bytes each
// communicator carried, and the errors.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/half.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

using ::testing::HasSubstr;

// A model whose groups have drifted apart: parameter i of tensor t in group g.
double GroupValue(int group, int tensor, int64_t i) {
  return std::sin(0.001 * (i + 1) * (tensor + 1)) + 0.01 * group * ((i % 7) - 3);
}

// Tensors of uneven sizes, one smaller than any group, total not divisible by 2, 3 or 4.
const std::vector<int64_t> kSizes = {1, 3, 4099, 65536, 17};

struct Model {
  std::vector<std::vector<float>> tensors;
  std::vector<TensorView> Views() {
    std::vector<TensorView> views;
    for (std::vector<float>& t : tensors) {
      views.push_back({t.data(), DataType::kFloat32, {static_cast<int64_t>(t.size())}});
    }
    return views;
  }
};

// hilo computes D from squared norms before and after the average (kernels/discrepancy.h), so D
// carries the rounding of the float32 average to first order: |error| <= 2 k u, u = 2^-24 (the
// sum over k groups rounds up to k times, the division once, and the error enters doubled).
double DiscrepancyTolerance(int num_groups, double d) {
  return 2.0 * num_groups * std::ldexp(1.0, -24) + 1e-9 * d;
}

Model GroupModel(int group) {
  Model model;
  for (size_t t = 0; t < kSizes.size(); ++t) {
    model.tensors.emplace_back(kSizes[t]);
    for (int64_t i = 0; i < kSizes[t]; ++i) {
      model.tensors[t][i] = static_cast<float>(GroupValue(group, t, i));
    }
  }
  return model;
}

void ExpectRoundAverages(AveragingAlgorithm algorithm) {
  const Topology& t = HiloTestTopology();
  Model model = GroupModel(t.group);
  AveragingOptions options;
  options.algorithm = algorithm;
  absl::StatusOr<Handle> handle = HiloTestContext().AverageAcrossGroups(
      absl::StrCat("model.", AveragingAlgorithmName(algorithm)), model.Views(), options);
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok()) << handle->Wait(absl::ZeroDuration());

  double difference = 0, norm = 0;
  for (size_t tensor = 0; tensor < kSizes.size(); ++tensor) {
    for (int64_t i = 0; i < kSizes[tensor]; ++i) {
      double average = 0;
      for (int g = 0; g < t.num_groups; ++g) {
        average += static_cast<float>(GroupValue(g, tensor, i));
      }
      average /= t.num_groups;
      ASSERT_NEAR(model.tensors[tensor][i], average, 1e-6)
          << AveragingAlgorithmName(algorithm) << " tensor " << tensor << " element " << i;
      for (int g = 0; g < t.num_groups; ++g) {
        const double d = static_cast<float>(GroupValue(g, tensor, i)) - average;
        difference += d * d;
      }
      norm += average * average;
    }
  }
  const double expected_d = difference / (t.num_groups * norm);
  ASSERT_TRUE(handle->discrepancy().has_value());
  EXPECT_NEAR(*handle->discrepancy(), expected_d, DiscrepancyTolerance(t.num_groups, expected_d));
  EXPECT_EQ(*HiloTestContext().LatestDiscrepancy(), *handle->discrepancy());
  if (t.num_groups == 1) EXPECT_EQ(*handle->discrepancy(), 0.0);
}

TEST(AveragingMpiTest, ShardedRoundGivesTheExactAverageAndDiscrepancy) {
  ExpectRoundAverages(AveragingAlgorithm::kSharded);
}

TEST(AveragingMpiTest, BaselineRoundGivesTheSame) {
  ExpectRoundAverages(AveragingAlgorithm::kWorldAllreduce);
}

TEST(AveragingMpiTest, HistoryKeepsEveryRoundInOrder) {
  absl::StatusOr<std::vector<AveragingRecord>> history = HiloTestContext().AveragingHistory();
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].round, 1);
  EXPECT_EQ((*history)[0].algorithm, AveragingAlgorithm::kSharded);
  EXPECT_EQ((*history)[1].algorithm, AveragingAlgorithm::kWorldAllreduce);
  EXPECT_NEAR((*history)[0].discrepancy, (*history)[1].discrepancy,
              2 * DiscrepancyTolerance(HiloTestTopology().num_groups, (*history)[0].discrepancy));
  int64_t total = 0;
  for (int64_t size : kSizes) total += size;
  EXPECT_EQ((*history)[0].elements, total);
}

// One round over N float32 moves N/G * 4 bytes per rank through the cross communicator (and as
// much into the group allgather); the baseline moves N * 4 through the world communicator.
TEST(AveragingMpiTest, ByteAccountingShowsTheCrossGroupSaving) {
  const Topology& t = HiloTestTopology();
  constexpr int64_t kElements = 1 << 20;
  std::vector<float> model(kElements, static_cast<float>(t.group));
  auto counters = [](CommunicatorKind kind) { return *HiloTestContext().TransportCounters(kind); };
  for (AveragingAlgorithm algorithm : {AveragingAlgorithm::kSharded, AveragingAlgorithm::kWorldAllreduce}) {
    const transport::TransportCounters cross0 = counters(CommunicatorKind::kCross);
    const transport::TransportCounters group0 = counters(CommunicatorKind::kGroup);
    const transport::TransportCounters world0 = counters(CommunicatorKind::kWorld);
    AveragingOptions options;
    options.algorithm = algorithm;
    options.check_group_consistency = false;  // its checksum allgather would add 8 bytes
    absl::StatusOr<Handle> handle = HiloTestContext().AverageAcrossGroups(
        "bytes", {{model.data(), DataType::kFloat32, {kElements}}}, options);
    ASSERT_TRUE(handle.ok());
    ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
    const int64_t cross = counters(CommunicatorKind::kCross).bytes - cross0.bytes;
    const int64_t group = counters(CommunicatorKind::kGroup).bytes - group0.bytes;
    const int64_t world = counters(CommunicatorKind::kWorld).bytes - world0.bytes;
    const int64_t shard_bytes = (kElements / t.group_size + (t.group_rank < kElements % t.group_size)) * 4;
    if (t.world_rank == 0) {
      std::printf("%s round of %lld float32, %d groups x %d: cross %lld B, group %lld B, world %lld B per rank\n",
                  std::string(AveragingAlgorithmName(algorithm)).c_str(),
                  static_cast<long long>(kElements), t.num_groups, t.group_size,
                  static_cast<long long>(cross), static_cast<long long>(group),
                  static_cast<long long>(world));
    }
    if (t.num_groups == 1) {
      EXPECT_EQ(cross + group + world, 0);  // one group is its own average: nothing to move
    } else if (algorithm == AveragingAlgorithm::kSharded) {
      // The shard, and the discrepancy partial sums (2 doubles) over cross then group.
      EXPECT_EQ(cross, shard_bytes + 16);
      EXPECT_EQ(group, shard_bytes + 16);
      EXPECT_EQ(world, 0);
    } else {
      EXPECT_EQ(cross, 0);
      EXPECT_EQ(group, 0);
      EXPECT_EQ(world, kElements * 4 + 16);
    }
  }
}

TEST(AveragingMpiTest, DriftedGroupMemberFailsTheRoundEverywhere) {
  const Topology& t = HiloTestTopology();
  if (t.group_size == 1) GTEST_SKIP() << "groups of one cannot disagree";
  Model model = GroupModel(t.group);
  const int drifted = t.world_size - 1;  // last member of the last group
  if (t.world_rank == drifted) model.tensors[2][100] += 0.5f;
  absl::StatusOr<Handle> handle = HiloTestContext().AverageAcrossGroups("drifted", model.Views());
  ASSERT_TRUE(handle.ok());
  const absl::Status status = handle->Wait(kOperationTimeout);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("group ", t.num_groups - 1, ": rank ",
                                                       drifted, " differs")));
  EXPECT_EQ(model.tensors[0][0], static_cast<float>(GroupValue(t.group, 0, 0)))
      << "a failed round must leave the parameters alone";
}

TEST(AveragingMpiTest, LayoutMismatchIsInvalidArgumentEverywhere) {
  const Topology& t = HiloTestTopology();
  std::vector<float> a(t.world_rank == 0 ? 10 : 11, 1.0f);
  absl::StatusOr<Handle> handle = HiloTestContext().AverageAcrossGroups(
      "mismatched-model", {{a.data(), DataType::kFloat32, {static_cast<int64_t>(a.size())}}});
  ASSERT_TRUE(handle.ok());
  const absl::Status status = handle->Wait(kOperationTimeout);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("parameter layout differs"));
}

TEST(AveragingMpiTest, MixedDtypesIncludingSixteenBit) {
  const Topology& t = HiloTestTopology();
  std::vector<double> f64(33, 2.0 * t.group);
  std::vector<uint16_t> bf16(50, kernels::FloatToBFloat16(static_cast<float>(4 * t.group)));
  absl::StatusOr<Handle> handle = HiloTestContext().AverageAcrossGroups(
      "mixed", {{f64.data(), DataType::kFloat64, {33}}, {bf16.data(), DataType::kBFloat16, {50}}});
  ASSERT_TRUE(handle.ok());
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
  const double mean_group = (t.num_groups - 1) / 2.0;
  EXPECT_THAT(f64, ::testing::Each(2.0 * mean_group));
  for (uint16_t v : bf16) EXPECT_EQ(kernels::BFloat16ToFloat(v), static_cast<float>(4 * mean_group));
}

// A round of host parameters runs on the averaging thread (HILO_AVERAGING_THREAD, on by default),
// so the group allreduces enqueued after it, as the next training steps' gradients are, run on
// the coordinator meanwhile: their callbacks run on another thread than the round's, and every
// result is exact. With the thread off, or one group (no round to run), all run on the
// coordinator.
TEST(AveragingMpiTest, GroupAllreducesRunBesideAHostRound) {
  const Topology& t = HiloTestTopology();
  Model model = GroupModel(t.group);
  std::thread::id round_thread, gradient_thread;
  AveragingOptions options;
  options.algorithm = AveragingAlgorithm::kSharded;
  options.on_complete = [&round_thread](const absl::Status&) {
    round_thread = std::this_thread::get_id();
  };
  absl::StatusOr<Handle> round =
      HiloTestContext().AverageAcrossGroups("beside", model.Views(), options);
  ASSERT_TRUE(round.ok()) << round.status();
  constexpr int kSteps = 20;
  std::vector<std::vector<float>> gradients(kSteps, std::vector<float>(1000, t.group_rank + 1.0f));
  std::vector<Handle> steps;
  for (int step = 0; step < kSteps; ++step) {
    CollectiveOptions step_options;
    step_options.communicator = CommunicatorKind::kGroup;
    step_options.reduce_op = ReduceOp::kSum;
    step_options.on_complete = [&gradient_thread](const absl::Status&) {
      gradient_thread = std::this_thread::get_id();
    };
    absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
        absl::StrCat("beside.gradient.", step), {gradients[step].data(), DataType::kFloat32, {1000}},
        step_options);
    ASSERT_TRUE(handle.ok()) << handle.status();
    steps.push_back(*std::move(handle));
  }
  for (Handle& step : steps) ASSERT_TRUE(step.Wait(kOperationTimeout).ok());
  ASSERT_TRUE(round->Wait(kOperationTimeout).ok()) << round->Wait(absl::ZeroDuration());
  const float group_sum = t.group_size * (t.group_size + 1) / 2.0f;
  for (const std::vector<float>& gradient : gradients) {
    ASSERT_THAT(gradient, ::testing::Each(group_sum));
  }
  for (size_t tensor = 0; tensor < kSizes.size(); ++tensor) {
    for (int64_t i = 0; i < kSizes[tensor]; ++i) {
      double average = 0;
      for (int g = 0; g < t.num_groups; ++g) average += static_cast<float>(GroupValue(g, tensor, i));
      ASSERT_NEAR(model.tensors[tensor][i], average / t.num_groups, 1e-6);
    }
  }
  const bool beside = HiloTestContext().config().averaging_thread && t.num_groups > 1;
  if (beside) {
    EXPECT_NE(round_thread, gradient_thread) << "the round ran on the coordinator thread";
  } else {
    EXPECT_EQ(round_thread, gradient_thread);
  }
}

TEST(AveragingMpiTest, BadArgumentsAreRejectedAtOnce) {
  int32_t ints[2] = {1, 2};
  absl::StatusOr<Handle> ints_round =
      HiloTestContext().AverageAcrossGroups("ints", {{ints, DataType::kInt32, {2}}});
  EXPECT_EQ(ints_round.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ints_round.status().message(), HasSubstr("floating-point"));
  absl::StatusOr<Handle> null_round =
      HiloTestContext().AverageAcrossGroups("null", {{nullptr, DataType::kFloat32, {5}}});
  EXPECT_EQ(null_round.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hilo::testing
