#include "runtime/negotiation/readiness_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

proto::Request MakeStallRequest(const std::string& name, int communicator_rank, int world_rank) {
  proto::Request request;
  request.set_tensor_name(name);
  request.set_communicator_rank(communicator_rank);
  request.set_world_rank(world_rank);
  request.add_shape(4);
  return request;
}


using ::testing::HasSubstr;

proto::Request MakeRequest(const std::string& name, int rank, std::vector<int64_t> shape,
                           proto::CollectiveType collective = proto::ALLREDUCE,
                           proto::DataType dtype = proto::FLOAT32) {
  proto::Request request;
  request.set_tensor_name(name);
  request.set_communicator_rank(rank);
  request.set_world_rank(rank + 10);  // distinct from communicator ranks, to see which is used
  request.set_collective(collective);
  request.set_dtype(dtype);
  for (int64_t dim : shape) request.add_shape(dim);
  return request;
}

TEST(ReadinessTableTest, ReadyOnlyWhenEveryRankReported) {
  ReadinessTable table(3, "group 0");
  ASSERT_TRUE(table.Add(MakeRequest("a", 0, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("a", 2, {4})).ok());
  EXPECT_TRUE(table.TakeReady().empty());
  EXPECT_EQ(table.pending(), 1u);
  ASSERT_TRUE(table.Add(MakeRequest("a", 1, {4})).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].collective(), proto::ALLREDUCE);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  EXPECT_THAT(ready[0].tensor_names(), ::testing::ElementsAre("a"));
  EXPECT_EQ(table.pending(), 0u);
}

TEST(ReadinessTableTest, ResponsesFollowTheOrderTensorsBecameReady) {
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(MakeRequest("x", 0, {1})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("y", 0, {1})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("y", 1, {1})).ok());  // y completes first
  ASSERT_TRUE(table.Add(MakeRequest("x", 1, {1})).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].tensor_names(0), "y");
  EXPECT_EQ(ready[1].tensor_names(0), "x");
}

TEST(ReadinessTableTest, ShapeMismatchNamesRanksAndShapes) {
  ReadinessTable table(4, "group 1");
  ASSERT_TRUE(table.Add(MakeRequest("w", 0, {4, 2})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("w", 1, {3, 2})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("w", 2, {4, 2})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("w", 3, {4, 2})).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].error());
  EXPECT_THAT(ready[0].error_message(), HasSubstr("'w'"));
  EXPECT_THAT(ready[0].error_message(), HasSubstr("group 1"));
  EXPECT_THAT(ready[0].error_message(), HasSubstr("[4, 2] on ranks 10, 12, 13"));
  EXPECT_THAT(ready[0].error_message(), HasSubstr("[3, 2] on rank 11"));
}

TEST(ReadinessTableTest, ReducescatterNeedsTheSameShapeAndOpEverywhere) {
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(MakeRequest("ok", 0, {5, 3}, proto::REDUCESCATTER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("ok", 1, {5, 3}, proto::REDUCESCATTER)).ok());
  // Unlike allgather, the first dimension must agree too: it is split, not concatenated.
  ASSERT_TRUE(table.Add(MakeRequest("rows", 0, {5, 3}, proto::REDUCESCATTER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("rows", 1, {4, 3}, proto::REDUCESCATTER)).ok());
  proto::Request sum = MakeRequest("op", 0, {2}, proto::REDUCESCATTER);
  proto::Request average = MakeRequest("op", 1, {2}, proto::REDUCESCATTER);
  average.set_reduce_op(proto::AVERAGE);
  ASSERT_TRUE(table.Add(sum).ok());
  ASSERT_TRUE(table.Add(average).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 3u);
  EXPECT_EQ(ready[0].collective(), proto::REDUCESCATTER);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  EXPECT_TRUE(ready[1].error());
  EXPECT_THAT(ready[1].error_message(), HasSubstr("shape differs"));
  EXPECT_TRUE(ready[2].error());
  EXPECT_THAT(ready[2].error_message(), HasSubstr("reduce op differs"));
}

TEST(ReadinessTableTest, AlltoallCarriesEveryRanksSplitsInRankOrder) {
  ReadinessTable table(2, "world");
  proto::Request first = MakeRequest("a", 1, {3, 4}, proto::ALLTOALL);
  first.add_splits(1);
  first.add_splits(2);
  proto::Request second = MakeRequest("a", 0, {5, 4}, proto::ALLTOALL);  // rows may differ
  second.add_splits(5);
  second.add_splits(0);
  ASSERT_TRUE(table.Add(first).ok());
  ASSERT_TRUE(table.Add(second).ok());
  proto::Request narrow = MakeRequest("b", 0, {2, 4}, proto::ALLTOALL);
  proto::Request wide = MakeRequest("b", 1, {2, 3}, proto::ALLTOALL);
  for (proto::Request* request : {&narrow, &wide}) {
    request->add_splits(1);
    request->add_splits(1);
    ASSERT_TRUE(table.Add(*request).ok());
  }
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].collective(), proto::ALLTOALL);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  EXPECT_THAT(ready[0].splits(), ::testing::ElementsAre(5, 0, 1, 2));
  EXPECT_TRUE(ready[1].error());
  EXPECT_THAT(ready[1].error_message(), HasSubstr("shape (beyond the first dimension) differs"));
}

TEST(ReadinessTableTest, DtypeAndCollectiveMismatches) {
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(MakeRequest("d", 0, {2}, proto::ALLREDUCE, proto::FLOAT32)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("d", 1, {2}, proto::ALLREDUCE, proto::BFLOAT16)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("c", 0, {2}, proto::ALLREDUCE)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("c", 1, {2}, proto::BROADCAST)).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_THAT(ready[0].error_message(), HasSubstr("dtype differs"));
  EXPECT_THAT(ready[0].error_message(), HasSubstr("bfloat16 on rank 11"));
  EXPECT_THAT(ready[1].error_message(), HasSubstr("collective differs"));
}

TEST(ReadinessTableTest, ReduceOpAndRootMismatches) {
  ReadinessTable table(2, "world");
  proto::Request sum = MakeRequest("r", 0, {2});
  proto::Request average = MakeRequest("r", 1, {2});
  average.set_reduce_op(proto::AVERAGE);
  ASSERT_TRUE(table.Add(sum).ok());
  ASSERT_TRUE(table.Add(average).ok());
  proto::Request root0 = MakeRequest("b", 0, {2}, proto::BROADCAST);
  proto::Request root1 = MakeRequest("b", 1, {2}, proto::BROADCAST);
  root1.set_root_rank(1);
  ASSERT_TRUE(table.Add(root0).ok());
  ASSERT_TRUE(table.Add(root1).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_THAT(ready[0].error_message(), HasSubstr("reduce op differs"));
  EXPECT_THAT(ready[1].error_message(), HasSubstr("root rank differs"));
}

TEST(ReadinessTableTest, AllgatherAllowsDifferentFirstDimensionsOnly) {
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(MakeRequest("g", 0, {1, 3}, proto::ALLGATHER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("g", 1, {5, 3}, proto::ALLGATHER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("h", 0, {1, 3}, proto::ALLGATHER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("h", 1, {1, 4}, proto::ALLGATHER)).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].collective(), proto::ALLGATHER);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  EXPECT_THAT(ready[0].first_dims(), ::testing::ElementsAre(1, 5));
  EXPECT_TRUE(ready[1].error());
  EXPECT_THAT(ready[1].error_message(), HasSubstr("[*, 4] on rank 11"));
}

TEST(ReadinessTableTest, AveragingRoundsMustAgreeOnLayoutAndAlgorithm) {
  auto averaging = [](int rank, std::vector<int64_t> counts, proto::AveragingAlgorithm algorithm) {
    proto::Request request = MakeRequest("model", rank, {}, proto::AVERAGE_ACROSS_GROUPS);
    for (int64_t count : counts) {
      proto::ParameterSpec* spec = request.add_parameters();
      spec->set_dtype(proto::FLOAT32);
      spec->set_count(count);
    }
    request.set_algorithm(algorithm);
    return request;
  };
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(averaging(0, {3, 1000}, proto::SHARDED)).ok());
  ASSERT_TRUE(table.Add(averaging(1, {3, 1000}, proto::SHARDED)).ok());
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].collective(), proto::AVERAGE_ACROSS_GROUPS);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  EXPECT_EQ(ready[0].algorithm(), proto::SHARDED);

  ASSERT_TRUE(table.Add(averaging(0, {3, 1000}, proto::SHARDED)).ok());
  ASSERT_TRUE(table.Add(averaging(1, {3, 999}, proto::SHARDED)).ok());
  ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].error());
  EXPECT_THAT(ready[0].error_message(),
              HasSubstr("parameter layout differs across ranks: 2 tensors, 1003 elements: "
                        "float32[3], float32[1000] on rank 10; 2 tensors, 1002 elements"));

  ASSERT_TRUE(table.Add(averaging(0, {3}, proto::SHARDED)).ok());
  ASSERT_TRUE(table.Add(averaging(1, {3}, proto::WORLD_ALLREDUCE)).ok());
  ready = table.TakeReady();
  EXPECT_THAT(ready[0].error_message(), HasSubstr("averaging algorithm differs"));
}

TEST(ReadinessTableTest, DoubleReportIsAProtocolError) {
  ReadinessTable table(2, "world");
  ASSERT_TRUE(table.Add(MakeRequest("a", 0, {1})).ok());
  EXPECT_EQ(table.Add(MakeRequest("a", 0, {1})).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(table.Add(MakeRequest("a", 5, {1})).code(), absl::StatusCode::kInternal);
}

TEST(ReadinessTableTest, NameCanBeReusedAfterItCompletes) {
  ReadinessTable table(1, "cross 0");
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(table.Add(MakeRequest("a", 0, {1})).ok());
    EXPECT_EQ(table.TakeReady().size(), 1u);
  }
}

TEST(ReadinessTableTest, StalledTensorsNameWhoSubmittedAndWhoDidNot) {
  ReadinessTable table(3, "group 0");
  const absl::Time t0 = absl::FromUnixSeconds(100);
  proto::Request a = MakeStallRequest("a", 0, 10);
  ASSERT_TRUE(table.Add(a, t0).ok());
  proto::Request a2 = MakeStallRequest("a", 2, 12);
  ASSERT_TRUE(table.Add(a2, t0 + absl::Seconds(1)).ok());
  // "b" arrives later but its reporter had already waited 30 s on a cache hit.
  proto::Request b = MakeStallRequest("b", 1, 11);
  b.set_waiting_us(30000000);
  ASSERT_TRUE(table.Add(b, t0 + absl::Seconds(5)).ok());
  std::vector<ReadinessTable::Stalled> stalled = table.StalledSince(t0 + absl::Seconds(10), absl::Seconds(8));
  ASSERT_EQ(stalled.size(), 2u);
  EXPECT_EQ(stalled[0].name, "b");  // oldest first: 35 s
  EXPECT_EQ(stalled[0].waiting, absl::Seconds(35));
  EXPECT_EQ(stalled[0].reported_world_ranks, std::vector<int>{11});
  EXPECT_EQ(stalled[0].missing_communicator_ranks, (std::vector<int>{0, 2}));
  EXPECT_EQ(stalled[1].name, "a");
  EXPECT_EQ(stalled[1].reported_world_ranks, (std::vector<int>{10, 12}));
  EXPECT_EQ(stalled[1].missing_communicator_ranks, std::vector<int>{1});
  EXPECT_TRUE(table.StalledSince(t0 + absl::Seconds(10), absl::Seconds(40)).empty());
  // Once everyone has it, it is ready, not stalled.
  ASSERT_TRUE(table.Add(MakeStallRequest("a", 1, 11), t0 + absl::Seconds(11)).ok());
  stalled = table.StalledSince(t0 + absl::Seconds(12), absl::Seconds(1));
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].name, "b");
}

// Rank 1 (world rank 11) has finished: "a" (reported by 0 and 2, not by 1) can never become
// ready and fails with a message naming who finished and who submitted; "b", which rank 1 did
// report before finishing, still waits for rank 2, who is running.
TEST(ReadinessTableTest, TensorsAFinishedRankNeverSubmittedFailAtOnce) {
  ReadinessTable table(3, "group 0");
  ASSERT_TRUE(table.Add(MakeRequest("a", 0, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("a", 2, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("b", 1, {4})).ok());
  EXPECT_TRUE(table.TakeUnsatisfiable({-1, -1, -1}).empty());  // nobody has finished
  std::vector<proto::Response> failed = table.TakeUnsatisfiable({-1, 11, -1});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_TRUE(failed[0].error());
  EXPECT_TRUE(failed[0].peer_finished());
  EXPECT_THAT(failed[0].tensor_names(), ::testing::ElementsAre("a"));
  EXPECT_EQ(failed[0].error_message(),
            "tensor 'a' on communicator group 0 can never complete: rank 11 has finished (shut "
            "down) without submitting it; submitted by ranks 10, 12. Every rank must run the "
            "same collectives: the usual cause is an uneven number of batches or steps per rank");
  EXPECT_EQ(table.pending(), 1u);  // "b" waits on
  ASSERT_TRUE(table.Add(MakeRequest("b", 0, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("b", 2, {4})).ok());
  EXPECT_TRUE(table.TakeUnsatisfiable({-1, 11, -1}).empty());  // complete: not unsatisfiable
  std::vector<proto::Response> ready = table.TakeReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].collective(), proto::ALLREDUCE);
  EXPECT_FALSE(ready[0].error()) << ready[0].error_message();
  // Two finished ranks are both named.
  ASSERT_TRUE(table.Add(MakeRequest("c", 2, {4})).ok());
  failed = table.TakeUnsatisfiable({10, 11, -1});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_THAT(failed[0].error_message(),
              HasSubstr("ranks 10, 11 have finished (shut down) without submitting it; "
                        "submitted by rank 12."));
  EXPECT_EQ(table.pending(), 0u);
}

// Rank 2 has joined: an allreduce ranks 0 and 1 reported is ready, built from their requests;
// a broadcast fails, naming why; a tensor rank 1 has not reported yet waits; a device-memory
// allreduce fails. Nothing happens while nobody has joined.
TEST(ReadinessTableTest, JoinedRanksLetAllreducesRunAndFailTheOtherCollectives) {
  ReadinessTable table(3, "world");
  ASSERT_TRUE(table.Add(MakeRequest("sum", 0, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("sum", 1, {4})).ok());
  ASSERT_TRUE(table.Add(MakeRequest("bcast", 0, {2}, proto::BROADCAST)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("bcast", 1, {2}, proto::BROADCAST)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("waits", 0, {1})).ok());
  proto::Request device = MakeRequest("device", 0, {3});
  device.set_device_memory(true);
  ASSERT_TRUE(table.Add(device).ok());
  device.set_communicator_rank(1);
  ASSERT_TRUE(table.Add(device).ok());
  EXPECT_TRUE(table.TakeReadyWithJoined({false, false, false}).empty());
  std::vector<proto::Response> decided = table.TakeReadyWithJoined({false, false, true});
  ASSERT_EQ(decided.size(), 3u);  // in name order: bcast, device, sum
  EXPECT_TRUE(decided[0].error());
  EXPECT_TRUE(decided[0].peer_finished());
  EXPECT_THAT(decided[0].error_message(),
              HasSubstr("tensor 'bcast' on communicator world: broadcast cannot run while ranks "
                        "have joined"));
  EXPECT_TRUE(decided[1].error());
  EXPECT_THAT(decided[1].error_message(), HasSubstr("join supports host tensors"));
  EXPECT_EQ(decided[2].collective(), proto::ALLREDUCE);
  EXPECT_FALSE(decided[2].error()) << decided[2].error_message();
  EXPECT_THAT(decided[2].tensor_names(), ::testing::ElementsAre("sum"));
  EXPECT_THAT(decided[2].tensor_sizes(), ::testing::ElementsAre(4));
  EXPECT_EQ(table.pending(), 1u);  // "waits" still needs rank 1
  ASSERT_TRUE(table.Add(MakeRequest("waits", 1, {1})).ok());
  decided = table.TakeReadyWithJoined({false, false, true});
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].collective(), proto::ALLREDUCE);
  EXPECT_FALSE(decided[0].error()) << decided[0].error_message();
  EXPECT_EQ(table.pending(), 0u);
}

TEST(ReadinessTableTest, AllgathersRunWithNoRowsFromJoinedRanks) {
  ReadinessTable table(3, "group 0");
  ASSERT_TRUE(table.Add(MakeRequest("g", 0, {2, 3, 2}, proto::ALLGATHER)).ok());
  ASSERT_TRUE(table.Add(MakeRequest("g", 2, {1, 3, 2}, proto::ALLGATHER)).ok());
  std::vector<proto::Response> decided = table.TakeReadyWithJoined({false, true, false});
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].collective(), proto::ALLGATHER);
  EXPECT_FALSE(decided[0].error()) << decided[0].error_message();
  EXPECT_THAT(decided[0].first_dims(), ::testing::ElementsAre(2, 0, 1));  // by communicator rank
  EXPECT_EQ(decided[0].row_elements(), 6);
}

}  // namespace
}  // namespace hilo
