// Tensor fusion through the whole runtime, as every rank of MPI jobs with different
// HILO_FUSION_THRESHOLD settings (see BUILD): a step of many small tensors gives correct results
// for every dtype and op, and the number of transport calls shows what was fused.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/half.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

int64_t Threshold() {
  const char* value = std::getenv("HILO_FUSION_THRESHOLD");
  return value == nullptr ? int64_t{64} << 20 : std::atoll(value);
}

int64_t Calls(CommunicatorKind kind) { return HiloTestContext().TransportCounters(kind)->calls; }

// Enqueues `count` tensors of `elements` float32 each on `kind` (average) at once, waits, checks.
// Returns the transport calls the step took.
int64_t AverageStep(CommunicatorKind kind, int count, int64_t elements, const std::string& prefix) {
  const Topology& t = HiloTestTopology();
  std::vector<std::vector<float>> tensors(count, std::vector<float>(elements));
  std::vector<Handle> handles;
  const int64_t calls_before = Calls(kind);
  for (int i = 0; i < count; ++i) {
    std::fill(tensors[i].begin(), tensors[i].end(), static_cast<float>(t.world_rank * 2 + i));
    CollectiveOptions options;
    options.communicator = kind;
    options.reduce_op = ReduceOp::kAverage;
    absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
        absl::StrCat(prefix, i), {tensors[i].data(), DataType::kFloat32, {elements}}, options);
    EXPECT_TRUE(handle.ok()) << handle.status();
    handles.push_back(*handle);
  }
  double mean_rank = 0;
  for (int c = 0; c < t.CommunicatorSize(kind); ++c) mean_rank += t.WorldRankOf(kind, c);
  mean_rank /= t.CommunicatorSize(kind);
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(handles[i].Wait(kOperationTimeout).ok());
    EXPECT_THAT(tensors[i], ::testing::Each(static_cast<float>(mean_rank * 2 + i))) << prefix << i;
  }
  return Calls(kind) - calls_before;
}

TEST(FusionMpiTest, ManySmallTensorsAreFusedUnlessDisabled) {
  constexpr int kTensors = 100;
  constexpr int64_t kElements = 4096;  // 16 KiB each
  const int64_t calls = AverageStep(CommunicatorKind::kGroup, kTensors, kElements, "small.");
  const int64_t threshold = Threshold();
  if (HiloTestTopology().world_rank == 0) {
    std::printf("HILO_FUSION_THRESHOLD=%lld: %d tensors of 16 KiB took %lld transport calls\n",
                static_cast<long long>(threshold), kTensors, static_cast<long long>(calls));
  }
  if (threshold == 0) {
    EXPECT_EQ(calls, kTensors);
  } else {
    // Tensors ready in the same cycle are fused; the enqueue loop may straddle a few cycles, and
    // each fused call holds at most threshold / 16 KiB tensors.
    const int64_t per_call = std::max<int64_t>(1, threshold / (kElements * 4));
    const int64_t fewest = (kTensors + per_call - 1) / per_call;
    EXPECT_GE(calls, fewest);
    // Each cycle boundary the enqueue loop straddles can split one fused call in two.
    EXPECT_LE(calls, fewest + 4) << "tensors ready together should travel together";
  }
}

TEST(FusionMpiTest, TensorsAboveTheThresholdGoAloneAndStayCorrect) {
  const int64_t threshold = Threshold();
  if (threshold == 0) GTEST_SKIP() << "fusion disabled";
  // Two tensors just above the threshold and eight small ones.
  const int64_t big = threshold / 4 + 1;
  AverageStep(CommunicatorKind::kWorld, 2, std::min<int64_t>(big, int64_t{1} << 22), "big.");
  AverageStep(CommunicatorKind::kWorld, 8, 16, "tiny.");
}

TEST(FusionMpiTest, MixedDtypesAndOpsInOneStep) {
  const Topology& t = HiloTestTopology();
  std::vector<uint16_t> f16(300, kernels::FloatToFloat16(1.0f + t.world_rank));
  std::vector<uint16_t> bf16(300, kernels::FloatToBFloat16(2.0f * t.world_rank));
  std::vector<int64_t> ints(300, t.world_rank);
  std::vector<double> doubles(300, 0.5 * t.world_rank);
  std::vector<Handle> handles;
  CollectiveOptions average;
  average.reduce_op = ReduceOp::kAverage;
  for (int repeat = 0; repeat < 2; ++repeat) {
    handles.push_back(*HiloTestContext().Allreduce(absl::StrCat("f16.", repeat), {f16.data() + repeat * 150, DataType::kFloat16, {150}}, average));
    handles.push_back(*HiloTestContext().Allreduce(absl::StrCat("bf16.", repeat), {bf16.data() + repeat * 150, DataType::kBFloat16, {150}}));
    handles.push_back(*HiloTestContext().Allreduce(absl::StrCat("i64.", repeat), {ints.data() + repeat * 150, DataType::kInt64, {150}}));
    handles.push_back(*HiloTestContext().Allreduce(absl::StrCat("f64.", repeat), {doubles.data() + repeat * 150, DataType::kFloat64, {150}}, average));
  }
  for (Handle& handle : handles) ASSERT_TRUE(handle.Wait(kOperationTimeout).ok());
  const int p = t.world_size;
  const double rank_sum = p * (p - 1) / 2.0;
  for (int i = 0; i < 300; ++i) {
    EXPECT_NEAR(kernels::Float16ToFloat(f16[i]), 1.0 + rank_sum / p, 2e-3 * (1.0 + rank_sum / p));
    EXPECT_NEAR(kernels::BFloat16ToFloat(bf16[i]), 2.0 * rank_sum, 1e-2 * (2.0 * rank_sum) + 1e-6);
    EXPECT_EQ(ints[i], static_cast<int64_t>(rank_sum));
    EXPECT_DOUBLE_EQ(doubles[i], 0.5 * rank_sum / p);
  }
}

}  // namespace
}  // namespace hilo::testing
