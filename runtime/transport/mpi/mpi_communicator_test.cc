// The MPI transport on its own, as every rank of a 4-rank job (see BUILD): each Communicator and
// ControlChannel call against reference values, on the world and on split communicators.
#include "runtime/transport/mpi/mpi_communicator.h"

#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "kernels/half.h"
#include "runtime/transport/mpi/mpi_session.h"
#include "runtime/transport/mpi/mpi_test_main.h"

namespace hilo::transport {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;


TEST(MpiSessionTest, SeesTheWholeJobOnOneNode) {
  EXPECT_EQ(TestSession().world_size(), 4);
  EXPECT_EQ(TestSession().local_size(), 4);
  EXPECT_EQ(TestSession().local_rank(), TestSession().world_rank());
}

TEST(MpiCommunicatorTest, AllreduceSumInEveryDtype) {
  absl::StatusOr<std::unique_ptr<RankCommunicator>> world = TestSession().World("world");
  ASSERT_TRUE(world.ok()) << world.status();
  const int rank = (*world)->rank();
  std::vector<int32_t> i32 = {rank, -rank, 1};
  std::vector<int64_t> i64 = {int64_t{rank} << 40, 7};
  std::vector<double> f64 = {0.5 * rank, 1.0};
  std::vector<float> f32 = {0.25f * rank};
  // float16: 1 + rank/256 keeps every partial sum exact in any order (4 + 6/256 needs 11 bits).
  std::vector<uint16_t> f16 = {kernels::FloatToFloat16(1.0f + rank / 256.0f)};
  // bfloat16: 256 on rank 0 and 1 elsewhere. bfloat16 has no 257 or 259, so whatever order MPI
  // adds in, the result is 256, 258 or 260; a sum done in float32 would give 259.
  std::vector<uint16_t> bf16 = {kernels::FloatToBFloat16(rank == 0 ? 256.0f : 1.0f)};
  ASSERT_TRUE((*world)->AllreduceSum(i32.data(), 3, DataType::kInt32).ok());
  ASSERT_TRUE((*world)->AllreduceSum(i64.data(), 2, DataType::kInt64).ok());
  ASSERT_TRUE((*world)->AllreduceSum(f64.data(), 2, DataType::kFloat64).ok());
  ASSERT_TRUE((*world)->AllreduceSum(f32.data(), 1, DataType::kFloat32).ok());
  ASSERT_TRUE((*world)->AllreduceSum(f16.data(), 1, DataType::kFloat16).ok());
  ASSERT_TRUE((*world)->AllreduceSum(bf16.data(), 1, DataType::kBFloat16).ok());
  EXPECT_EQ(i32, (std::vector<int32_t>{6, -6, 4}));
  EXPECT_EQ(i64, (std::vector<int64_t>{int64_t{6} << 40, 28}));
  EXPECT_EQ(f64, (std::vector<double>{3.0, 4.0}));
  EXPECT_EQ(f32[0], 1.5f);
  EXPECT_EQ(kernels::Float16ToFloat(f16[0]), 4.0f + 6.0f / 256.0f);
  const float bf16_sum = kernels::BFloat16ToFloat(bf16[0]);
  EXPECT_TRUE(bf16_sum == 256.0f || bf16_sum == 258.0f || bf16_sum == 260.0f) << bf16_sum;
}

TEST(MpiCommunicatorTest, SplitGroupsAllgatherBroadcastReduceScatter) {
  // Two groups of two: {0,1} and {2,3}.
  const int world_rank = TestSession().world_rank();
  absl::StatusOr<std::unique_ptr<RankCommunicator>> group =
      TestSession().Split(world_rank / 2, world_rank % 2, "group");
  ASSERT_TRUE(group.ok()) << group.status();
  RankCommunicator& g = **group;
  ASSERT_EQ(g.size(), 2);
  ASSERT_EQ(g.rank(), world_rank % 2);

  // Allgather with uneven counts: member m sends m + 1 values equal to world_rank.
  std::vector<int64_t> send(g.rank() + 1, world_rank);
  std::vector<int64_t> recv(3);
  ASSERT_TRUE(g.Allgather(send.data(), g.rank() + 1, recv.data(), {1, 2}, DataType::kInt64).ok());
  const int first = world_rank / 2 * 2;
  EXPECT_EQ(recv, (std::vector<int64_t>{first, first + 1, first + 1}));

  std::vector<double> data = {world_rank * 1.0, world_rank * 2.0};
  ASSERT_TRUE(g.Broadcast(data.data(), 2, DataType::kFloat64, 1).ok());
  EXPECT_EQ(data, (std::vector<double>{first + 1.0, (first + 1) * 2.0}));

  // Reduce-scatter of 5 values, blocks of 3 and 2.
  std::vector<float> values(5);
  std::iota(values.begin(), values.end(), static_cast<float>(world_rank));
  std::vector<float> block(g.rank() == 0 ? 3 : 2);
  ASSERT_TRUE(g.ReduceScatterSum(values.data(), block.data(), {3, 2}, DataType::kFloat32).ok());
  const float base = 2.0f * first + 1.0f;  // first + (first + 1)
  if (g.rank() == 0) {
    EXPECT_THAT(block, ElementsAreArray({base, base + 2, base + 4}));
  } else {
    EXPECT_THAT(block, ElementsAreArray({base + 6, base + 8}));
  }
  EXPECT_TRUE(g.Barrier().ok());
}

TEST(MpiCommunicatorTest, ControlChannelCarriesVariableSizedMessages) {
  absl::StatusOr<std::unique_ptr<RankCommunicator>> world = TestSession().World("world");
  ASSERT_TRUE(world.ok());
  const int rank = (*world)->rank();
  const std::string mine(static_cast<size_t>(rank) * 1000, static_cast<char>('a' + rank));
  absl::StatusOr<std::vector<std::string>> gathered = (*world)->GatherToRoot(mine);
  ASSERT_TRUE(gathered.ok());
  if (rank == 0) {
    ASSERT_EQ(gathered->size(), 4u);
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ((*gathered)[r], std::string(static_cast<size_t>(r) * 1000, static_cast<char>('a' + r)));
    }
  } else {
    EXPECT_TRUE(gathered->empty());
  }
  std::string message = rank == 0 ? std::string(70000, 'z') : std::string("stale");
  ASSERT_TRUE((*world)->BroadcastFromRoot(&message).ok());
  EXPECT_EQ(message, std::string(70000, 'z'));
}

TEST(MpiCommunicatorTest, ControlWaitGivesUpAfterItsTimeout) {
  absl::StatusOr<std::unique_ptr<RankCommunicator>> world = TestSession().World("world");
  ASSERT_TRUE(world.ok()) << world.status();
  std::vector<uint64_t> words = {~uint64_t{0}};
  if ((*world)->rank() == 0) {
    // The others arrive only after a second: rank 0 must give up after its 200 ms, not wait.
    (*world)->set_control_timeout(absl::Milliseconds(200));
    const absl::Time start = absl::Now();
    const absl::Status status = (*world)->AllreduceBitwiseAnd(absl::MakeSpan(words));
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("not every rank answered within 200ms"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  } else {
    absl::SleepFor(absl::Seconds(1));
    // Rank 0's contribution was sent before it gave up: this side completes.
    EXPECT_TRUE((*world)->AllreduceBitwiseAnd(absl::MakeSpan(words)).ok());
  }
  // Rank 0 keeps MPI progressing here until the others' agreement has completed.
  EXPECT_TRUE((*world)->Barrier().ok());
}

TEST(MpiCommunicatorTest, BadRootIsAnErrorNotACrash) {
  absl::StatusOr<std::unique_ptr<RankCommunicator>> world = TestSession().World("world");
  ASSERT_TRUE(world.ok());
  int value = 0;
  absl::Status status = (*world)->Broadcast(&value, 1, DataType::kInt32, 9);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("root 9"));
}

TEST(MpiErrorTest, MapsClassesAndNamesTheCall) {
  absl::Status argument = MpiError(MPI_ERR_COUNT, "MPI_Allreduce", "group 1", 3);
  EXPECT_EQ(argument.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(argument.message(), HasSubstr("MPI_Allreduce failed on communicator group 1 (rank 3)"));
  EXPECT_EQ(MpiError(MPI_ERR_OTHER, "MPI_Bcast", "world", 0).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hilo::transport
