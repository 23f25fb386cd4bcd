// The response cache through the whole runtime, as every rank of MPI jobs with different
// HILO_CACHE_CAPACITY settings (see BUILD): repeated steps in rank-dependent orders are served
// from the cache with correct results, a changed shape is still a mismatch, and the counters
// say what happened.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

int Capacity() {
  const char* value = std::getenv("HILO_CACHE_CAPACITY");
  return value == nullptr ? 1024 : std::atoi(value);
}

TEST(ResponseCacheMpiTest, RepeatedShuffledStepsHitTheCache) {
  const Topology& t = HiloTestTopology();
  constexpr int kTensors = 20, kSteps = 30;
  std::vector<std::vector<int32_t>> tensors(kTensors, std::vector<int32_t>(64));
  std::vector<int> order(kTensors);
  for (int i = 0; i < kTensors; ++i) order[i] = i;
  std::mt19937 shuffle(static_cast<unsigned>(t.world_rank) + 17u);
  const CacheStats before = *HiloTestContext().ResponseCacheStats();
  for (int step = 0; step < kSteps; ++step) {
    std::shuffle(order.begin(), order.end(), shuffle);  // a different order on every rank
    std::vector<Handle> handles(kTensors);
    for (int i : order) {
      std::fill(tensors[i].begin(), tensors[i].end(), t.world_rank + step + i);
      CollectiveOptions options;
      options.communicator = i % 2 == 0 ? CommunicatorKind::kWorld : CommunicatorKind::kGroup;
      absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
          absl::StrCat("cached.", i), {tensors[i].data(), DataType::kInt32, {64}}, options);
      ASSERT_TRUE(handle.ok()) << handle.status();
      handles[i] = *handle;
    }
    for (int i = 0; i < kTensors; ++i) {
      ASSERT_TRUE(handles[i].Wait(kOperationTimeout).ok());
      const CommunicatorKind kind = i % 2 == 0 ? CommunicatorKind::kWorld : CommunicatorKind::kGroup;
      int32_t expected = 0;
      for (int c = 0; c < t.CommunicatorSize(kind); ++c) expected += t.WorldRankOf(kind, c) + step + i;
      ASSERT_THAT(tensors[i], ::testing::Each(expected)) << "step " << step << " tensor " << i;
    }
  }
  const CacheStats after = *HiloTestContext().ResponseCacheStats();
  const int64_t hits = after.hits - before.hits, misses = after.misses - before.misses;
  if (t.world_rank == 0) {
    std::printf("HILO_CACHE_CAPACITY=%d: %d steps x %d tensors: %lld hits, %lld misses\n",
                Capacity(), kSteps, kTensors, static_cast<long long>(hits),
                static_cast<long long>(misses));
  }
  EXPECT_EQ(hits + misses, kSteps * kTensors);
  if (Capacity() == 0) {
    EXPECT_EQ(hits, 0);
  } else if (Capacity() >= kTensors) {
    EXPECT_EQ(misses, kTensors) << "only the first step should miss";
  } else {
    EXPECT_GT(misses, kTensors);  // entries are evicted and renegotiated
  }
}

TEST(ResponseCacheMpiTest, RepeatedReducescattersHitTheCache) {
  const Topology& t = HiloTestTopology();
  constexpr int kSteps = 10;
  const CacheStats before = *HiloTestContext().ResponseCacheStats();
  for (int step = 0; step < kSteps; ++step) {
    std::vector<int64_t> data(2 * t.world_size, t.world_rank + step);  // 2 rows per rank
    CollectiveOptions options;
    options.reduce_op = ReduceOp::kSum;
    absl::StatusOr<Handle> handle = HiloTestContext().Reducescatter(
        "cached.reducescatter", {data.data(), DataType::kInt64, {2 * t.world_size}}, options);
    ASSERT_TRUE(handle.ok()) << handle.status();
    ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
    const int64_t expected = t.world_size * (t.world_size - 1) / 2 + t.world_size * step;
    ASSERT_EQ(handle->output().size(), 2 * sizeof(int64_t));
    const int64_t* block = reinterpret_cast<const int64_t*>(handle->output().data());
    EXPECT_EQ(block[0], expected) << "step " << step;
    EXPECT_EQ(block[1], expected) << "step " << step;
  }
  const CacheStats after = *HiloTestContext().ResponseCacheStats();
  const int64_t hits = after.hits - before.hits, misses = after.misses - before.misses;
  EXPECT_EQ(hits + misses, kSteps);
  if (Capacity() == 0) {
    EXPECT_EQ(hits, 0);
  } else {
    EXPECT_EQ(misses, 1) << "only the first step should miss";
  }
}

TEST(ResponseCacheMpiTest, ChangedShapeAfterCachingIsStillAMismatch) {
  const Topology& t = HiloTestTopology();
  std::vector<float> data(8, 1.0f);
  for (int step = 0; step < 3; ++step) {
    absl::StatusOr<Handle> handle =
        HiloTestContext().Allreduce("reshaped", {data.data(), DataType::kFloat32, {8}});
    ASSERT_TRUE(handle.ok());
    ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
  }
  const int64_t length = t.world_rank == t.world_size - 1 ? 6 : 8;
  absl::StatusOr<Handle> changed =
      HiloTestContext().Allreduce("reshaped", {data.data(), DataType::kFloat32, {length}});
  ASSERT_TRUE(changed.ok());
  const absl::Status status = changed->Wait(kOperationTimeout);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr(absl::StrCat("[6] on rank ", t.world_size - 1)));
  // And the name works again afterwards.
  std::fill(data.begin(), data.end(), 1.0f);
  absl::StatusOr<Handle> again =
      HiloTestContext().Allreduce("reshaped", {data.data(), DataType::kFloat32, {8}});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->Wait(kOperationTimeout).ok());
  EXPECT_THAT(data, ::testing::Each(static_cast<float>(t.world_size)));
}

}  // namespace
}  // namespace hilo::testing
