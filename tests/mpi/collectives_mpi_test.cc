// Every collective, dtype and communicator against reference values, as an MPI job of 2, 4 or 8
// ranks in various group layouts (see BUILD). Values are chosen so that float32, float64 and the
// integers compare exactly; float16 and bfloat16 are compared within the rounding bound stated
// in Tolerance().
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
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

constexpr DataType kAllDtypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                                   DataType::kBFloat16, DataType::kInt32, DataType::kInt64};

// The contribution of world rank r to element i. Float values are multiples of 1/4 small enough
// that every partial sum is exact in float32/float64; the 16-bit formats round.
double Contribution(DataType dtype, int r, int64_t i) {
  switch (dtype) {
    case DataType::kInt32: return static_cast<double>((r + 1) * (i % 11 + 1)) - 40.0;
    case DataType::kInt64: return std::ldexp(static_cast<double>(r + 1), 33) + static_cast<double>(i);
    case DataType::kFloat16:
    case DataType::kBFloat16: return (r + 1) * 0.1 * static_cast<double>(i % 13 + 1);
    default: return 0.25 * static_cast<double>((r + 1) * (i % 17)) - 3.0;
  }
}

// A buffer holding `values` encoded as `dtype`.
std::vector<char> Encode(DataType dtype, const std::vector<double>& values) {
  std::vector<char> bytes(values.size() * DataTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    char* out = bytes.data() + i * DataTypeSize(dtype);
    const double v = values[i];
    switch (dtype) {
      case DataType::kFloat32: { float f = static_cast<float>(v); std::memcpy(out, &f, 4); break; }
      case DataType::kFloat64: std::memcpy(out, &v, 8); break;
      case DataType::kFloat16: { uint16_t h = kernels::FloatToFloat16(static_cast<float>(v)); std::memcpy(out, &h, 2); break; }
      case DataType::kBFloat16: { uint16_t h = kernels::FloatToBFloat16(static_cast<float>(v)); std::memcpy(out, &h, 2); break; }
      case DataType::kInt32: { int32_t x = static_cast<int32_t>(v); std::memcpy(out, &x, 4); break; }
      case DataType::kInt64: { int64_t x = static_cast<int64_t>(v); std::memcpy(out, &x, 8); break; }
    }
  }
  return bytes;
}

double Decode(DataType dtype, const char* element) {
  switch (dtype) {
    case DataType::kFloat32: { float f; std::memcpy(&f, element, 4); return f; }
    case DataType::kFloat64: { double d; std::memcpy(&d, element, 8); return d; }
    case DataType::kFloat16: { uint16_t h; std::memcpy(&h, element, 2); return kernels::Float16ToFloat(h); }
    case DataType::kBFloat16: { uint16_t h; std::memcpy(&h, element, 2); return kernels::BFloat16ToFloat(h); }
    case DataType::kInt32: { int32_t x; std::memcpy(&x, element, 4); return x; }
    case DataType::kInt64: { int64_t x; std::memcpy(&x, element, 8); return static_cast<double>(x); }
  }
  return NAN;
}

// Allowed |result - reference| for a sum over `ranks` contributions. 16-bit formats: each input
// is rounded once and each of the ranks-1 additions (and an average's division) rounds once, by
// at most half a unit in the last place of a value no larger than the largest partial sum, so
// the error is below (ranks + 1) * 2^-p * |largest partial sum|, p = 11 (float16) or 8 (bfloat16).
// Everything else must be exact.
double Tolerance(DataType dtype, int ranks, double largest_partial_sum) {
  if (dtype == DataType::kFloat16) return (ranks + 1) * std::ldexp(1.0, -11) * largest_partial_sum;
  if (dtype == DataType::kBFloat16) return (ranks + 1) * std::ldexp(1.0, -8) * largest_partial_sum;
  return 0.0;
}

std::vector<int> MembersOf(CommunicatorKind kind) {
  const Topology& t = HiloTestTopology();
  std::vector<int> members;
  for (int c = 0; c < t.CommunicatorSize(kind); ++c) members.push_back(t.WorldRankOf(kind, c));
  return members;
}

TEST(TopologyMpiTest, MatchesTheConfiguredLayout) {
  const Topology& t = HiloTestTopology();
  const char* configured = std::getenv("HILO_GROUP_SIZE");
  const int group_size = configured != nullptr ? std::atoi(configured) : t.local_size;
  EXPECT_EQ(t.group_size, group_size);
  EXPECT_EQ(t.num_groups, t.world_size / group_size);
  EXPECT_EQ(t.group, t.world_rank / group_size);
  EXPECT_EQ(t.group_rank, t.world_rank % group_size);
  EXPECT_EQ(t.local_size, t.world_size);  // one node
  EXPECT_EQ(t.local_rank, t.world_rank);
}

TEST(AllreduceMpiTest, EveryDtypeCommunicatorAndOpMatchesTheReference) {
  const Topology& t = HiloTestTopology();
  constexpr int64_t kElements = 1000;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const std::vector<int> members = MembersOf(kind);
    for (DataType dtype : kAllDtypes) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage, ReduceOp::kMin, ReduceOp::kMax}) {
        SCOPED_TRACE(absl::StrCat(CommunicatorKindName(kind), " ", DataTypeName(dtype), " ",
                                  ReduceOpName(op)));
        std::vector<double> mine(kElements);
        for (int64_t i = 0; i < kElements; ++i) mine[i] = Contribution(dtype, t.world_rank, i);
        std::vector<char> buffer = Encode(dtype, mine);
        CollectiveOptions options;
        options.communicator = kind;
        options.reduce_op = op;
        absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
            absl::StrCat("allreduce.", DataTypeName(dtype), ".", ReduceOpName(op)),
            {buffer.data(), dtype, {10, kElements / 10}}, options);
        ASSERT_TRUE(handle.ok()) << handle.status();
        ASSERT_TRUE(handle->Wait(kOperationTimeout).ok()) << handle->Wait(absl::ZeroDuration());
        int mismatches = 0;
        for (int64_t i = 0; i < kElements && mismatches < 5; ++i) {
          // Reference from the inputs as each rank encoded them (16-bit inputs are rounded).
          double sum = 0, largest = 0;
          double low = std::numeric_limits<double>::infinity(), high = -low;
          for (int member : members) {
            const std::vector<char> encoded = Encode(dtype, {Contribution(dtype, member, i)});
            const double value = Decode(dtype, encoded.data());
            sum += value;
            largest = std::max(largest, std::fabs(sum));
            low = std::min(low, value);
            high = std::max(high, value);
          }
          double expected = sum;
          if (op == ReduceOp::kAverage) {
            expected = IsFloatingPoint(dtype) ? sum / members.size()
                                              : std::trunc(sum / members.size());
          }
          if (op == ReduceOp::kMin) expected = low;
          if (op == ReduceOp::kMax) expected = high;
          const double actual = Decode(dtype, buffer.data() + i * DataTypeSize(dtype));
          // Min and max pick one rank's value: exact in every dtype.
          const double tolerance =
              op == ReduceOp::kMin || op == ReduceOp::kMax
                  ? 0.0
                  : Tolerance(dtype, static_cast<int>(members.size()), largest);
          if (std::fabs(actual - expected) > tolerance) {
            ++mismatches;
            ADD_FAILURE() << "element " << i << ": got " << actual << ", expected " << expected
                          << " +- " << tolerance;
          }
        }
      }
    }
  }
}

TEST(AllgatherMpiTest, ConcatenatesUnevenTensorsInCommunicatorRankOrder) {
  const Topology& t = HiloTestTopology();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const std::vector<int> members = MembersOf(kind);
    for (DataType dtype : kAllDtypes) {
      SCOPED_TRACE(absl::StrCat(CommunicatorKindName(kind), " ", DataTypeName(dtype)));
      // Communicator rank c contributes c + 1 rows of 3 values: world_rank * 10 + row * 3 + col
      // (small integers: exact in every dtype).
      const int rows = t.CommunicatorRank(kind) + 1;
      std::vector<double> mine;
      for (int row = 0; row < rows; ++row) {
        for (int col = 0; col < 3; ++col) mine.push_back(t.world_rank * 10 + row * 3 + col);
      }
      std::vector<char> buffer = Encode(dtype, mine);
      CollectiveOptions options;
      options.communicator = kind;
      absl::StatusOr<Handle> handle = HiloTestContext().Allgather(
          absl::StrCat("allgather.", DataTypeName(dtype)), {buffer.data(), dtype, {rows, 3}},
          options);
      ASSERT_TRUE(handle.ok()) << handle.status();
      ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
      std::vector<double> expected;
      for (size_t c = 0; c < members.size(); ++c) {
        for (size_t row = 0; row <= c; ++row) {
          for (int col = 0; col < 3; ++col) expected.push_back(members[c] * 10 + row * 3 + col);
        }
      }
      ASSERT_EQ(handle->output_shape(),
                (std::vector<int64_t>{static_cast<int64_t>(expected.size() / 3), 3}));
      ASSERT_EQ(handle->output().size(), expected.size() * DataTypeSize(dtype));
      for (size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(Decode(dtype, handle->output().data() + i * DataTypeSize(dtype)), expected[i])
            << "element " << i;
      }
    }
  }
}

TEST(ReducescatterMpiTest, EveryRankKeepsItsBlockOfTheSumOrAverage) {
  const Topology& t = HiloTestTopology();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const std::vector<int> members = MembersOf(kind);
    const int n = static_cast<int>(members.size());
    const int c = t.CommunicatorRank(kind);
    double member_sum = 0;
    for (int member : members) member_sum += member;
    // n + 1 rows of 2: communicator rank 0 keeps rows 0 and 1, rank c > 0 row c + 1.
    const int64_t rows = n + 1;
    const int64_t first_row = c == 0 ? 0 : c + 1;
    const int64_t my_rows = c == 0 ? 2 : 1;
    for (DataType dtype : kAllDtypes) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
        SCOPED_TRACE(absl::StrCat(CommunicatorKindName(kind), " ", DataTypeName(dtype), " ",
                                  ReduceOpName(op)));
        // Element (row, col) = 2 row + col + n * world_rank: the sum over the members is
        // n (2 row + col) + n * member_sum, the average 2 row + col + member_sum (exact in
        // integers too).
        std::vector<double> mine;
        for (int64_t row = 0; row < rows; ++row) {
          for (int col = 0; col < 2; ++col) mine.push_back(2 * row + col + n * t.world_rank);
        }
        std::vector<char> buffer = Encode(dtype, mine);
        const std::vector<char> input = buffer;
        CollectiveOptions options;
        options.communicator = kind;
        options.reduce_op = op;
        absl::StatusOr<Handle> handle = HiloTestContext().Reducescatter(
            absl::StrCat("reducescatter.", DataTypeName(dtype), ".", ReduceOpName(op)),
            {buffer.data(), dtype, {rows, 2}}, options);
        ASSERT_TRUE(handle.ok()) << handle.status();
        ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
        ASSERT_EQ(handle->output_shape(), (std::vector<int64_t>{my_rows, 2}));
        ASSERT_EQ(handle->output().size(), my_rows * 2 * DataTypeSize(dtype));
        EXPECT_EQ(buffer, input);  // the input is left alone
        const double tolerance = Tolerance(dtype, n, n * (2 * rows + member_sum));
        for (int64_t k = 0; k < my_rows; ++k) {
          for (int col = 0; col < 2; ++col) {
            const double value = 2 * (first_row + k) + col;
            const double expected = op == ReduceOp::kSum ? n * value + n * member_sum
                                                         : value + member_sum;
            EXPECT_NEAR(Decode(dtype, handle->output().data() +
                                          (2 * k + col) * DataTypeSize(dtype)),
                        expected, tolerance)
                << "row " << first_row + k << " col " << col;
          }
        }
      }
    }
  }
}

TEST(AlltoallMpiTest, UnevenSplitsArriveInCommunicatorRankOrder) {
  const Topology& t = HiloTestTopology();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const std::vector<int> members = MembersOf(kind);
    const int n = static_cast<int>(members.size());
    const int c = t.CommunicatorRank(kind);
    // Communicator rank a sends (a + b) % 3 rows to rank b; row k of those holds
    // world_rank(a) + 8 b + 64 k in each of its 2 columns (exact in every dtype).
    auto rows_from_to = [](int a, int b) { return (a + b) % 3; };
    for (DataType dtype : kAllDtypes) {
      SCOPED_TRACE(absl::StrCat(CommunicatorKindName(kind), " ", DataTypeName(dtype)));
      std::vector<double> mine;
      CollectiveOptions options;
      options.communicator = kind;
      for (int b = 0; b < n; ++b) {
        options.splits.push_back(rows_from_to(c, b));
        for (int k = 0; k < rows_from_to(c, b); ++k) {
          mine.insert(mine.end(), 2, t.world_rank + 8 * b + 64 * k);
        }
      }
      std::vector<char> buffer = Encode(dtype, mine);
      const int64_t rows = static_cast<int64_t>(mine.size() / 2);
      absl::StatusOr<Handle> handle = HiloTestContext().Alltoall(
          absl::StrCat("alltoall.", DataTypeName(dtype)), {buffer.data(), dtype, {rows, 2}},
          options);
      ASSERT_TRUE(handle.ok()) << handle.status();
      ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
      std::vector<double> expected;
      std::vector<int64_t> received;
      for (int a = 0; a < n; ++a) {
        received.push_back(rows_from_to(a, c));
        for (int k = 0; k < rows_from_to(a, c); ++k) {
          expected.insert(expected.end(), 2, members[a] + 8 * c + 64 * k);
        }
      }
      EXPECT_EQ(handle->received_splits(), received);
      ASSERT_EQ(handle->output_shape(),
                (std::vector<int64_t>{static_cast<int64_t>(expected.size() / 2), 2}));
      ASSERT_EQ(handle->output().size(), expected.size() * DataTypeSize(dtype));
      for (size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(Decode(dtype, handle->output().data() + i * DataTypeSize(dtype)), expected[i])
            << "element " << i;
      }
    }
  }
}

TEST(AlltoallMpiTest, EvenSplitByDefaultAndBadSplitsAreRefused) {
  const Topology& t = HiloTestTopology();
  const int n = t.world_size;
  std::vector<int64_t> data(2 * n);
  for (int i = 0; i < 2 * n; ++i) data[i] = 1000 * t.world_rank + i;  // rows i: 2 per rank
  absl::StatusOr<Handle> handle =
      HiloTestContext().Alltoall("alltoall.even", {data.data(), DataType::kInt64, {2 * n}});
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
  std::vector<int64_t> expected;
  for (int a = 0; a < n; ++a) {
    expected.push_back(1000 * a + 2 * t.world_rank);
    expected.push_back(1000 * a + 2 * t.world_rank + 1);
  }
  std::vector<int64_t> got(handle->output().size() / sizeof(int64_t));
  std::memcpy(got.data(), handle->output().data(), handle->output().size());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(handle->received_splits(), std::vector<int64_t>(n, 2));

  std::vector<int64_t> odd(2 * n + 1);
  absl::StatusOr<Handle> refused =
      HiloTestContext().Alltoall("alltoall.odd", {odd.data(), DataType::kInt64, {2 * n + 1}});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("evenly"));
  CollectiveOptions wrong_sum;
  wrong_sum.splits.assign(n, 1);
  refused = HiloTestContext().Alltoall("alltoall.sum",
                                       {odd.data(), DataType::kInt64, {2 * n + 1}}, wrong_sum);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("splits sum to"));
}

TEST(ReducescatterMpiTest, MinIsRefusedWithAMessage) {
  std::vector<float> data(4, 1.0f);
  CollectiveOptions options;
  options.reduce_op = ReduceOp::kMin;
  absl::StatusOr<Handle> handle =
      HiloTestContext().Reducescatter("reducescatter.min", {data.data(), DataType::kFloat32, {4}},
                                      options);
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(handle.status().message()), ::testing::HasSubstr("sums or averages"));
}

TEST(BroadcastMpiTest, LastRankOfEachCommunicatorReachesEveryMember) {
  const Topology& t = HiloTestTopology();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const std::vector<int> members = MembersOf(kind);
    const int root = static_cast<int>(members.size()) - 1;
    for (DataType dtype : kAllDtypes) {
      SCOPED_TRACE(absl::StrCat(CommunicatorKindName(kind), " ", DataTypeName(dtype)));
      std::vector<double> mine(257);
      for (size_t i = 0; i < mine.size(); ++i) mine[i] = Contribution(dtype, t.world_rank, i);
      std::vector<char> buffer = Encode(dtype, mine);
      CollectiveOptions options;
      options.communicator = kind;
      options.root_rank = root;
      absl::StatusOr<Handle> handle = HiloTestContext().Broadcast(
          absl::StrCat("broadcast.", DataTypeName(dtype)), {buffer.data(), dtype, {257}}, options);
      ASSERT_TRUE(handle.ok()) << handle.status();
      ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
      std::vector<double> root_values(257);
      for (size_t i = 0; i < root_values.size(); ++i) {
        root_values[i] = Contribution(dtype, members[root], i);
      }
      EXPECT_EQ(buffer, Encode(dtype, root_values));
    }
  }
}

TEST(NegotiationMpiTest, RanksEnqueueingInDifferentOrdersAllComplete) {
  const Topology& t = HiloTestTopology();
  constexpr int kTensors = 40;
  std::vector<int> order(kTensors);
  for (int i = 0; i < kTensors; ++i) order[i] = i;
  std::mt19937 shuffle(static_cast<unsigned>(t.world_rank) * 7919u + 1u);
  std::shuffle(order.begin(), order.end(), shuffle);
  std::vector<std::vector<int64_t>> buffers(kTensors);
  std::vector<Handle> handles(kTensors);
  for (int i : order) {
    // Alternate communicators too: each one negotiates its own order.
    CollectiveOptions options;
    options.communicator = kAllCommunicatorKinds[i % kNumCommunicatorKinds];
    buffers[i].assign(16 + i, t.world_rank + i);
    absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
        absl::StrCat("shuffled.", i), {buffers[i].data(), DataType::kInt64, {16 + i}}, options);
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles[i] = *handle;
  }
  for (int i = 0; i < kTensors; ++i) {
    ASSERT_TRUE(handles[i].Wait(kOperationTimeout).ok()) << "tensor " << i;
    int64_t expected = 0;
    for (int member : MembersOf(kAllCommunicatorKinds[i % kNumCommunicatorKinds])) {
      expected += member + i;
    }
    EXPECT_THAT(buffers[i], ::testing::Each(expected)) << "tensor " << i;
  }
}

TEST(NegotiationMpiTest, ShapeMismatchFailsEveryRankAndOthersKeepFlowing) {
  const Topology& t = HiloTestTopology();
  // World rank 1 submits [3]; everybody else [4]. A healthy tensor travels in the same cycles.
  const int64_t length = t.world_rank == 1 ? 3 : 4;
  std::vector<float> bad(length, 1.0f), good(8, 1.0f);
  absl::StatusOr<Handle> bad_handle =
      HiloTestContext().Allreduce("mismatched", {bad.data(), DataType::kFloat32, {length}});
  absl::StatusOr<Handle> good_handle =
      HiloTestContext().Allreduce("healthy", {good.data(), DataType::kFloat32, {8}});
  ASSERT_TRUE(bad_handle.ok() && good_handle.ok());
  const absl::Status bad_status = bad_handle->Wait(kOperationTimeout);
  EXPECT_EQ(bad_status.code(), absl::StatusCode::kInvalidArgument) << bad_status;
  EXPECT_THAT(bad_status.message(), HasSubstr("'mismatched'"));
  EXPECT_THAT(bad_status.message(), HasSubstr("[3] on rank 1"));
  EXPECT_THAT(bad_status.message(), HasSubstr("[4] on rank"));
  EXPECT_TRUE(good_handle->Wait(kOperationTimeout).ok());
  EXPECT_THAT(good, ::testing::Each(static_cast<float>(t.world_size)));

  // The runtime still serves the same name afterwards, now consistent.
  std::vector<float> again(4, 2.0f);
  absl::StatusOr<Handle> retry =
      HiloTestContext().Allreduce("mismatched", {again.data(), DataType::kFloat32, {4}});
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->Wait(kOperationTimeout).ok());
  EXPECT_THAT(again, ::testing::Each(2.0f * t.world_size));
}

TEST(NegotiationMpiTest, DtypeMismatchNamesTheDtypes) {
  const Topology& t = HiloTestTopology();
  std::vector<char> buffer(64);
  const DataType dtype = t.world_rank == 0 ? DataType::kFloat16 : DataType::kBFloat16;
  CollectiveOptions group;
  group.communicator = CommunicatorKind::kGroup;
  absl::StatusOr<Handle> handle =
      HiloTestContext().Allreduce("dtype-mismatch", {buffer.data(), dtype, {16}}, group);
  ASSERT_TRUE(handle.ok());
  const absl::Status status = handle->Wait(kOperationTimeout);
  if (t.group_size == 1 || t.group != 0) {
    // Only group 0 contains rank 0; other groups (and groups of one) agree.
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("float16 on rank 0"));
    EXPECT_THAT(status.message(), HasSubstr("bfloat16 on rank"));
  }
}

// HILO_HIERARCHICAL_ALLREDUCE: a world allreduce sends only this rank's shard across groups;
// otherwise nothing at all goes over the cross communicator.
TEST(AllreduceMpiTest, WorldAllreduceTrafficAcrossGroups) {
  const Topology& t = HiloTestTopology();
  constexpr int64_t kCount = 10007;
  std::vector<float> data(kCount, static_cast<float>(t.world_rank));
  const transport::TransportCounters before =
      *HiloTestContext().TransportCounters(CommunicatorKind::kCross);
  absl::StatusOr<Handle> handle =
      HiloTestContext().Allreduce("traffic.world", {data.data(), DataType::kFloat32, {kCount}});
  ASSERT_TRUE(handle.ok());
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
  const float expected = static_cast<float>(t.world_size * (t.world_size - 1) / 2);
  EXPECT_THAT(data, ::testing::Each(expected));
  const int64_t cross_bytes =
      HiloTestContext().TransportCounters(CommunicatorKind::kCross)->bytes - before.bytes;
  const bool hierarchical = HiloTestContext().config().hierarchical_allreduce &&
                            t.num_groups > 1 && t.group_size > 1;
  const int64_t shard = kCount / t.group_size + (t.group_rank < kCount % t.group_size ? 1 : 0);
  EXPECT_EQ(cross_bytes, hierarchical ? shard * 4 : 0);
}

TEST(AllreduceMpiTest, ZeroElementTensorsCompleteOnEveryCommunicator) {
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    CollectiveOptions options;
    options.communicator = kind;
    absl::StatusOr<Handle> handle =
        HiloTestContext().Allreduce("empty", {nullptr, DataType::kFloat64, {0, 5}}, options);
    ASSERT_TRUE(handle.ok()) << handle.status();
    EXPECT_TRUE(handle->Wait(kOperationTimeout).ok());
  }
}

TEST(ClientMpiTest, ConcurrentEnqueuesFromManyThreadsWithCallbacks) {
  const Topology& t = HiloTestTopology();
  constexpr int kThreads = 4, kPerThread = 25;
  std::atomic<int> callbacks{0};
  std::vector<std::vector<int32_t>> buffers(kThreads * kPerThread, std::vector<int32_t>(32));
  std::vector<Handle> handles(buffers.size());
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int i = 0; i < kPerThread; ++i) {
        const int index = thread * kPerThread + i;
        std::fill(buffers[index].begin(), buffers[index].end(), t.world_rank * index);
        CollectiveOptions options;
        options.on_complete = [&callbacks](const absl::Status& status) {
          if (status.ok()) callbacks.fetch_add(1);
        };
        absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
            absl::StrCat("threaded.", index), {buffers[index].data(), DataType::kInt32, {32}},
            options);
        ASSERT_TRUE(handle.ok()) << handle.status();
        handles[index] = *handle;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const int rank_sum = t.world_size * (t.world_size - 1) / 2;
  for (size_t index = 0; index < handles.size(); ++index) {
    ASSERT_TRUE(handles[index].Wait(kOperationTimeout).ok());
    EXPECT_THAT(buffers[index], ::testing::Each(static_cast<int32_t>(rank_sum * index)));
  }
  EXPECT_EQ(callbacks.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace hilo::testing
