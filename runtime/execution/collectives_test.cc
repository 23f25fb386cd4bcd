#include "runtime/execution/collectives.h"

#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/half.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

// Runs `body(rank, communicator)` on `size` threads connected by an in-process transport.
void RunRanks(int size, const std::function<void(int, transport::Communicator&)>& body) {
  auto communicators = transport::LocalCommunicator::CreateGroup(size, "test");
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] { body(rank, *communicators[rank]); });
  }
  for (std::thread& thread : threads) thread.join();
}

// The host data plane over `communicator`: CPU kernels and a host fusion buffer.
struct HostPlane {
  explicit HostPlane(transport::Communicator& communicator)
      : kernels(kernels::MakeCpuKernelSet()), fusion(kernels::MakeHostWorkspace()),
        plane{communicator, *kernels, *fusion} {}
  std::unique_ptr<kernels::KernelSet> kernels;
  std::unique_ptr<kernels::Workspace> fusion;
  DataPlane plane;
};

TEST(RunAllreduceTest, SumAndAverageForEveryDtype) {
  constexpr int kRanks = 4;
  RunRanks(kRanks, [](int rank, transport::Communicator& communicator) {
    // Element i on rank r is r + i: the sum is 4i + 6, the average i + 1.5.
    std::vector<float> f32(5);
    std::vector<double> f64(5);
    std::vector<int32_t> i32(5);
    std::vector<int64_t> i64(5);
    std::vector<uint16_t> f16(5), bf16(5);
    for (int i = 0; i < 5; ++i) {
      f32[i] = static_cast<float>(rank + i);
      f64[i] = rank + i;
      i32[i] = rank + i;
      i64[i] = (int64_t{1} << 33) * rank + i;
      f16[i] = kernels::FloatToFloat16(static_cast<float>(rank + i));
      bf16[i] = kernels::FloatToBFloat16(static_cast<float>(rank + i));
    }
    auto run = [&](void* data, DataType dtype, ReduceOp op) {
      TensorRequest request;
      request.name = "t";
      request.dtype = dtype;
      request.reduce_op = op;
      request.shape = {5};
      request.data = data;
      HostPlane host(communicator);
      ASSERT_TRUE(RunAllreduce(host.plane, request).ok());
    };
    run(f32.data(), DataType::kFloat32, ReduceOp::kAverage);
    run(f64.data(), DataType::kFloat64, ReduceOp::kSum);
    run(i32.data(), DataType::kInt32, ReduceOp::kAverage);
    run(i64.data(), DataType::kInt64, ReduceOp::kSum);
    run(f16.data(), DataType::kFloat16, ReduceOp::kAverage);
    run(bf16.data(), DataType::kBFloat16, ReduceOp::kSum);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(f32[i], i + 1.5f);
      EXPECT_EQ(f64[i], 4.0 * i + 6);
      EXPECT_EQ(i32[i], i + 1);  // (4i + 6) / 4 truncated
      EXPECT_EQ(i64[i], (int64_t{1} << 33) * 6 + 4 * i);
      EXPECT_EQ(kernels::Float16ToFloat(f16[i]), i + 1.5f);
      EXPECT_EQ(kernels::BFloat16ToFloat(bf16[i]), 4.0f * i + 6);
    }
  });
}

TEST(RunAllreduceTest, ZeroElementsIsValid) {
  RunRanks(2, [](int, transport::Communicator& communicator) {
    TensorRequest request;
    request.shape = {0, 7};
    HostPlane host(communicator);
    EXPECT_TRUE(RunAllreduce(host.plane, request).ok());
  });
}

TEST(RunFusedAllreduceTest, PacksReducesAveragesAndUnpacksThroughTheDataPlane) {
  RunRanks(4, [](int rank, transport::Communicator& communicator) {
    // Three tensors of different sizes (one empty) in one call: rank r holds r + tensor index.
    std::vector<std::vector<float>> tensors = {std::vector<float>(5, rank + 0.0f),
                                               std::vector<float>(0),
                                               std::vector<float>(1001, rank + 2.0f)};
    std::vector<TensorRequest> requests(tensors.size());
    std::vector<const TensorRequest*> pointers;
    for (size_t t = 0; t < tensors.size(); ++t) {
      requests[t].name = "fused." + std::to_string(t);
      requests[t].reduce_op = ReduceOp::kAverage;
      requests[t].shape = {static_cast<int64_t>(tensors[t].size())};
      requests[t].data = tensors[t].data();
      pointers.push_back(&requests[t]);
    }
    HostPlane host(communicator);
    FusedPhaseTimes phases;
    ASSERT_TRUE(RunFusedAllreduce(host.plane, pointers, &phases).ok());
    EXPECT_THAT(tensors[0], ::testing::Each(1.5f));  // (0 + 1 + 2 + 3) / 4
    EXPECT_THAT(tensors[2], ::testing::Each(3.5f));
    EXPECT_LE(phases.pack, phases.transport);
    EXPECT_LE(phases.unpack, phases.end);
    // Mixed dtypes cannot share a call.
    TensorRequest other = requests[0];
    other.dtype = DataType::kFloat64;
    const TensorRequest* mixed[] = {&requests[0], &other};
    EXPECT_EQ(RunFusedAllreduce(host.plane, mixed).code(), absl::StatusCode::kInternal);
  });
}

// Min, max and product, alone and fused: rank r holds r + 1 in the first tensor and 4 - r in the
// second; the fused call packs both, reduces once and unpacks.
TEST(RunAllreduceTest, MinMaxProductAloneAndFused) {
  RunRanks(4, [](int rank, transport::Communicator& communicator) {
    for (auto [op, first, second] : {std::tuple{ReduceOp::kMin, 1.0, 1.0},
                                     std::tuple{ReduceOp::kMax, 4.0, 4.0},
                                     std::tuple{ReduceOp::kProduct, 24.0, 24.0}}) {
      SCOPED_TRACE(std::string(ReduceOpName(op)));
      std::vector<double> a(3, rank + 1.0), b(1000, 4.0 - rank);
      std::vector<TensorRequest> requests(2);
      std::vector<double>* data[] = {&a, &b};
      for (int t = 0; t < 2; ++t) {
        requests[t].name = "t" + std::to_string(t);
        requests[t].dtype = DataType::kFloat64;
        requests[t].reduce_op = op;
        requests[t].shape = {static_cast<int64_t>(data[t]->size())};
        requests[t].data = data[t]->data();
      }
      HostPlane host(communicator);
      const TensorRequest* both[] = {&requests[0], &requests[1]};
      ASSERT_TRUE(RunFusedAllreduce(host.plane, both).ok());
      EXPECT_THAT(a, ::testing::Each(first));
      EXPECT_THAT(b, ::testing::Each(second));
      std::vector<int32_t> alone = {rank, -rank};
      TensorRequest request;
      request.name = "alone";
      request.dtype = DataType::kInt32;
      request.reduce_op = op;
      request.shape = {2};
      request.data = alone.data();
      ASSERT_TRUE(RunAllreduce(host.plane, request).ok());
      const std::vector<int32_t> expected =
          op == ReduceOp::kMin ? std::vector<int32_t>{0, -3}
          : op == ReduceOp::kMax ? std::vector<int32_t>{3, 0}
                                 : std::vector<int32_t>{0, 0};
      EXPECT_EQ(alone, expected);
    }
  });
}

TEST(RunBroadcastTest, RootDataEverywhere) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    std::vector<int64_t> data = {rank * 10, rank * 10 + 1};
    TensorRequest request;
    request.dtype = DataType::kInt64;
    request.shape = {2};
    request.data = data.data();
    request.root_rank = 2;
    HostPlane host(communicator);
    ASSERT_TRUE(RunBroadcast(host.plane, request).ok());
    EXPECT_EQ(data, (std::vector<int64_t>{20, 21}));
  });
}

TEST(RunAllgatherTest, ConcatenatesUnevenFirstDimensions) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    // Rank r contributes r rows of 2 values, each equal to r.
    std::vector<float> data(rank * 2, static_cast<float>(rank));
    TensorRequest request;
    request.shape = {rank, 2};
    request.data = data.data();
    absl::StatusOr<OwnedResult> result = RunAllgather(communicator, request, {0, 1, 2});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->shape, (std::vector<int64_t>{3, 2}));
    std::vector<float> values(6);
    std::memcpy(values.data(), result->data.data(), 6 * sizeof(float));
    EXPECT_EQ(values, (std::vector<float>{1, 1, 2, 2, 2, 2}));
  });
}

TEST(ReducescatterRowsTest, HorovodsSplitOfTheFirstDimension) {
  EXPECT_EQ(ReducescatterRows(7, 3), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(ReducescatterRows(6, 3), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(ReducescatterRows(2, 4), (std::vector<int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(ReducescatterRows(0, 2), (std::vector<int64_t>{0, 0}));
}

TEST(RunReducescatterTest, SumsOrAveragesAndKeepsThisRanksRows) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    HostPlane host(communicator);
    // 7 rows of 2: element (row i, column j) on rank r is 10 i + j + r; summed over the ranks
    // 3 (10 i + j) + 3, averaged 10 i + j + 1. Rank 0 keeps rows 0-2, rank 1 rows 3-4, rank 2
    // rows 5-6.
    const int first_row[] = {0, 3, 5};
    const int rows[] = {3, 2, 2};
    for (const ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      std::vector<double> data(14);
      for (int i = 0; i < 7; ++i) {
        for (int j = 0; j < 2; ++j) data[2 * i + j] = 10 * i + j + rank;
      }
      const std::vector<double> input = data;
      TensorRequest request;
      request.name = "rs";
      request.dtype = DataType::kFloat64;
      request.reduce_op = op;
      request.shape = {7, 2};
      request.data = data.data();
      absl::StatusOr<OwnedResult> result = RunReducescatter(host.plane, request);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->shape, (std::vector<int64_t>{rows[rank], 2}));
      ASSERT_EQ(result->data.size(), rows[rank] * 2 * sizeof(double));
      std::vector<double> got(rows[rank] * 2);
      std::memcpy(got.data(), result->data.data(), result->data.size());
      for (int k = 0; k < rows[rank]; ++k) {
        const int i = first_row[rank] + k;
        for (int j = 0; j < 2; ++j) {
          const double expected = op == ReduceOp::kSum ? 3 * (10 * i + j) + 3 : 10 * i + j + 1;
          EXPECT_EQ(got[2 * k + j], expected) << "rank " << rank << " row " << i;
        }
      }
      EXPECT_EQ(data, input);  // the input is left alone
    }
  });
}

TEST(RunReducescatterTest, FewerRowsThanRanksLeavesSomeRanksEmpty) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    HostPlane host(communicator);
    std::vector<int32_t> data = {rank, 10 * rank};  // 1 row of 2
    TensorRequest request;
    request.name = "rs";
    request.dtype = DataType::kInt32;
    request.reduce_op = ReduceOp::kSum;
    request.shape = {1, 2};
    request.data = data.data();
    absl::StatusOr<OwnedResult> result = RunReducescatter(host.plane, request);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->shape, (std::vector<int64_t>{rank == 0 ? 1 : 0, 2}));
    if (rank == 0) {
      int32_t got[2];
      ASSERT_EQ(result->data.size(), sizeof(got));
      std::memcpy(got, result->data.data(), sizeof(got));
      EXPECT_EQ(got[0], 3);
      EXPECT_EQ(got[1], 30);
    } else {
      EXPECT_TRUE(result->data.empty());
    }
  });
}

TEST(RunAlltoallTest, EachRankSendsItsSplitsAndReceivesInRankOrder) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    // Rank r sends rows (each of 2 values 100 r + 10 j + k for the k-th row sent to rank j) by
    // splits: rank 0 sends {1, 0, 2}, rank 1 {0, 0, 1}, rank 2 {2, 1, 0}.
    const std::vector<int64_t> splits = {1, 0, 2, 0, 0, 1, 2, 1, 0};
    std::vector<int32_t> mine;
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < splits[rank * 3 + j]; ++k) {
        mine.push_back(100 * rank + 10 * j + k);
        mine.push_back(-(100 * rank + 10 * j + k));
      }
    }
    TensorRequest request;
    request.name = "a2a";
    request.dtype = DataType::kInt32;
    request.shape = {static_cast<int64_t>(mine.size() / 2), 2};
    request.data = mine.data();
    absl::StatusOr<OwnedResult> result = RunAlltoall(communicator, request, splits);
    ASSERT_TRUE(result.ok()) << result.status();
    std::vector<int32_t> expected;
    std::vector<int64_t> received;
    for (int r = 0; r < 3; ++r) {
      received.push_back(splits[r * 3 + rank]);
      for (int k = 0; k < splits[r * 3 + rank]; ++k) {
        expected.push_back(100 * r + 10 * rank + k);
        expected.push_back(-(100 * r + 10 * rank + k));
      }
    }
    EXPECT_EQ(result->received_splits, received);
    EXPECT_EQ(result->shape, (std::vector<int64_t>{static_cast<int64_t>(expected.size() / 2), 2}));
    std::vector<int32_t> got(result->data.size() / sizeof(int32_t));
    if (!got.empty()) std::memcpy(got.data(), result->data.data(), result->data.size());
    EXPECT_EQ(got, expected);
  });
}

TEST(LocalCommunicatorTest, ReduceScatterSum) {
  RunRanks(3, [](int rank, transport::Communicator& communicator) {
    std::vector<int32_t> send = {1, 2, 3, 4, 5, 6};
    for (int32_t& v : send) v *= rank + 1;  // sum over ranks: 6x
    std::vector<int32_t> recv(2);
    ASSERT_TRUE(communicator.ReduceScatterSum(send.data(), recv.data(), {2, 2, 2},
                                              DataType::kInt32).ok());
    EXPECT_EQ(recv[0], 6 * (2 * rank + 1));
    EXPECT_EQ(recv[1], 6 * (2 * rank + 2));
  });
}

}  // namespace
}  // namespace hilo
