#include "runtime/ops/collective_op.h"

#include <cctype>
#include <set>

#include "gtest/gtest.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

constexpr int kNumCollectives = 6;

std::set<CollectiveType> TypesWhere(bool (*predicate)(const CollectiveOp&)) {
  std::set<CollectiveType> types;
  for (int type = 0; type < kNumCollectives; ++type) {
    if (predicate(*FindOp(type))) types.insert(static_cast<CollectiveType>(type));
  }
  return types;
}

proto::Request Request(proto::CollectiveType collective, std::vector<int64_t> shape,
                       int world_rank = 0) {
  proto::Request request;
  request.set_tensor_name("t");
  request.set_collective(collective);
  request.set_world_rank(world_rank);
  for (int64_t dim : shape) request.add_shape(dim);
  return request;
}

TEST(CollectiveOpTest, EveryCollectiveTypeHasItsOwnOp) {
  for (int type = 0; type < kNumCollectives; ++type) {
    const CollectiveOp* op = FindOp(type);
    ASSERT_NE(op, nullptr) << type;
    EXPECT_EQ(static_cast<int>(op->type()), type);
    EXPECT_EQ(&OpFor(static_cast<CollectiveType>(type)), op);
  }
  EXPECT_EQ(FindOp(-1), nullptr);
  EXPECT_EQ(FindOp(kNumCollectives), nullptr);
}

// The wire enum is the C++ enum, value for value: a collective added to one and not the other,
// or numbered differently, fails here.
TEST(CollectiveOpTest, WireEnumMatchesTheOpsByNumberAndName) {
  EXPECT_EQ(proto::CollectiveType_descriptor()->value_count(), kNumCollectives);
  for (int type = 0; type < kNumCollectives; ++type) {
    const CollectiveType collective = static_cast<CollectiveType>(type);
    std::string expected(CollectiveTypeName(collective));
    for (char& c : expected) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    EXPECT_EQ(proto::CollectiveType_Name(ToProto(collective)), expected);
    EXPECT_EQ(&OpFor(ToProto(collective)), &OpFor(collective));
  }
}

TEST(CollectiveOpTest, CacheableAreThoseWhoseResponseFollowsFromTheSignature) {
  EXPECT_EQ(TypesWhere([](const CollectiveOp& op) { return op.cacheable(); }),
            (std::set<CollectiveType>{CollectiveType::kAllreduce, CollectiveType::kBroadcast,
                                      CollectiveType::kReducescatter,
                                      CollectiveType::kAverageAcrossGroups}));
}

TEST(CollectiveOpTest, OnlyAllreduceAndAllgatherRunWhileRanksHaveJoined) {
  EXPECT_EQ(TypesWhere([](const CollectiveOp& op) { return op.runs_while_joined(); }),
            (std::set<CollectiveType>{CollectiveType::kAllreduce, CollectiveType::kAllgather}));
}

TEST(CollectiveOpTest, OnlyAnAveragingRoundHasNoTensorAndCompletesLater) {
  const std::set<CollectiveType> round = {CollectiveType::kAverageAcrossGroups};
  EXPECT_EQ(TypesWhere([](const CollectiveOp& op) { return !op.has_tensor(); }), round);
  EXPECT_EQ(TypesWhere([](const CollectiveOp& op) { return !op.completes_in_execute(); }), round);
}

TEST(CollectiveOpTest, WhatMustAgreeDependsOnTheCollective) {
  proto::Request sum = Request(proto::ALLREDUCE, {4});
  proto::Request max = sum;
  max.set_reduce_op(proto::MAX);
  EXPECT_TRUE(OpFor(proto::ALLREDUCE).Agree(sum, sum));
  EXPECT_FALSE(OpFor(proto::ALLREDUCE).Agree(sum, max));
  EXPECT_FALSE(OpFor(proto::ALLREDUCE).Agree(sum, Request(proto::ALLREDUCE, {5})));

  // Row collectives: the first dimension may differ, the rest may not.
  for (proto::CollectiveType rows : {proto::ALLGATHER, proto::ALLTOALL}) {
    EXPECT_TRUE(OpFor(rows).Agree(Request(rows, {2, 3}), Request(rows, {7, 3})));
    EXPECT_FALSE(OpFor(rows).Agree(Request(rows, {2, 3}), Request(rows, {2, 4})));
    EXPECT_FALSE(OpFor(rows).Agree(Request(rows, {}), Request(rows, {})));
  }

  proto::Request root0 = Request(proto::BROADCAST, {4});
  proto::Request root1 = root0;
  root1.set_root_rank(1);
  EXPECT_FALSE(OpFor(proto::BROADCAST).Agree(root0, root1));

  proto::Request round = Request(proto::AVERAGE_ACROSS_GROUPS, {});
  round.add_parameters()->set_count(10);
  proto::Request other_layout = round;
  other_layout.mutable_parameters(0)->set_count(11);
  EXPECT_TRUE(OpFor(proto::AVERAGE_ACROSS_GROUPS).Agree(round, round));
  EXPECT_FALSE(OpFor(proto::AVERAGE_ACROSS_GROUPS).Agree(round, other_layout));
}

TEST(CollectiveOpTest, DifferencesNameTheRanks) {
  Differences differences;
  OpFor(proto::ALLGATHER)
      .DescribeDifferences({Request(proto::ALLGATHER, {2, 3}, 0),
                            Request(proto::ALLGATHER, {2, 4}, 1)},
                           differences);
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].first, "shape (beyond the first dimension)");
  EXPECT_EQ(differences[0].second, "[*, 3] on rank 0; [*, 4] on rank 1");
}

TEST(CollectiveOpTest, ResponsesCarryWhatEachRankNeeds) {
  proto::Response allgather;
  ASSERT_TRUE(OpFor(proto::ALLGATHER)
                  .FillResponse({Request(proto::ALLGATHER, {2, 3}), Request(proto::ALLGATHER, {5, 3})},
                                2, allgather)
                  .ok());
  EXPECT_EQ(std::vector<int64_t>(allgather.first_dims().begin(), allgather.first_dims().end()),
            (std::vector<int64_t>{2, 5}));

  proto::Response allreduce;
  ASSERT_TRUE(OpFor(proto::ALLREDUCE).FillResponse({Request(proto::ALLREDUCE, {2, 3})}, 1, allreduce).ok());
  EXPECT_EQ(allreduce.tensor_sizes(0), 6);

  proto::Request three_ways = Request(proto::ALLTOALL, {3}, 1);
  for (int i = 0; i < 3; ++i) three_ways.add_splits(1);
  proto::Response alltoall;
  const absl::Status status = OpFor(proto::ALLTOALL).FillResponse({three_ways}, 2, alltoall);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "rank 1 split its alltoall 3 ways for 2 ranks");
  EXPECT_EQ(alltoall.splits_size(), 0);
}

TEST(CollectiveOpTest, AJoinedRankStandsInWithZerosOrNoRows) {
  std::deque<std::vector<char>> buffers;
  proto::Response allreduce;
  allreduce.set_collective(proto::ALLREDUCE);
  allreduce.set_dtype(proto::FLOAT64);
  allreduce.add_tensor_names("w");
  allreduce.add_tensor_sizes(3);
  std::optional<TensorEntry> zeros =
      OpFor(proto::ALLREDUCE).StandIn(CommunicatorKind::kGroup, allreduce, 0, buffers);
  ASSERT_TRUE(zeros.has_value());
  EXPECT_EQ(zeros->request.name, "w");
  EXPECT_EQ(zeros->request.communicator, CommunicatorKind::kGroup);
  EXPECT_EQ(zeros->request.shape, (std::vector<int64_t>{3}));
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers[0], std::vector<char>(3 * sizeof(double), 0));
  EXPECT_EQ(zeros->request.data, buffers[0].data());

  proto::Response allgather;
  allgather.set_collective(proto::ALLGATHER);
  allgather.add_tensor_names("g");
  allgather.set_row_elements(4);
  std::optional<TensorEntry> no_rows =
      OpFor(proto::ALLGATHER).StandIn(CommunicatorKind::kWorld, allgather, 0, buffers);
  ASSERT_TRUE(no_rows.has_value());
  EXPECT_EQ(no_rows->request.collective, CollectiveType::kAllgather);
  EXPECT_EQ(no_rows->request.shape, (std::vector<int64_t>{0, 4}));

  proto::Response broadcast;
  broadcast.set_collective(proto::BROADCAST);
  broadcast.add_tensor_names("b");
  EXPECT_FALSE(OpFor(proto::BROADCAST).StandIn(CommunicatorKind::kWorld, broadcast, 0, buffers));
}

TEST(CollectiveOpTest, AllgatherAdmitsJoinedRanksWithNoRows) {
  const proto::Request reporter = Request(proto::ALLGATHER, {2, 3, 5});
  proto::Response response;
  response.add_first_dims(2);
  OpFor(proto::ALLGATHER).AdmitJoined({nullptr, &reporter, nullptr}, response);
  EXPECT_EQ(std::vector<int64_t>(response.first_dims().begin(), response.first_dims().end()),
            (std::vector<int64_t>{0, 2, 0}));
  EXPECT_EQ(response.row_elements(), 15);
}

TEST(CollectiveOpTest, AlltoallWithoutSplitsDividesTheFirstDimensionEvenly) {
  const Topology topology = *MakeTopology(0, 4, 0, 4, 4, 4, /*configured_group_size=*/2);
  TensorRequest request;
  request.collective = CollectiveType::kAlltoall;
  request.communicator = CommunicatorKind::kWorld;
  request.shape = {8, 3};
  OpFor(request.collective).ApplyDefaults(request, topology);
  EXPECT_EQ(request.splits, (std::vector<int64_t>{2, 2, 2, 2}));

  request.splits = {5, 1, 1, 1};  // given splits stay
  OpFor(request.collective).ApplyDefaults(request, topology);
  EXPECT_EQ(request.splits, (std::vector<int64_t>{5, 1, 1, 1}));
}

// Records what an op asked of its executor.
class RecordingContext : public ExecutionContext {
 public:
  absl::StatusOr<DataPlane*> PlaneFor(absl::Span<const TensorRequest* const>) override {
    ++planes_asked;
    return absl::UnavailableError("no plane in this test");
  }
  transport::Communicator& HostCommunicator() override { std::abort(); }
  void StartRound(TensorEntry entry, AveragingAlgorithm algorithm, bool check) override {
    rounds.push_back(std::move(entry));
    last_algorithm = algorithm;
    last_check = check;
  }
  int planes_asked = 0;
  std::vector<TensorEntry> rounds;
  AveragingAlgorithm last_algorithm = AveragingAlgorithm::kSharded;
  bool last_check = false;
};

TEST(CollectiveOpTest, ExecutionRunsOnTheLentPlaneOrHandsTheRoundOn) {
  RecordingContext context;
  for (proto::CollectiveType collective : {proto::ALLREDUCE, proto::BROADCAST, proto::REDUCESCATTER}) {
    TensorEntry entry;
    entry.request.name = "t";
    entry.operation = std::make_shared<Operation>();
    proto::Response response;
    response.set_collective(collective);
    OpFor(collective).Execute(context, response, entry);
    ASSERT_TRUE(entry.operation->done()) << proto::CollectiveType_Name(collective);
    EXPECT_EQ(entry.operation->status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(context.planes_asked, 3);

  TensorEntry round;
  round.request.name = "round";
  round.operation = std::make_shared<Operation>();
  proto::Response response;
  response.set_collective(proto::AVERAGE_ACROSS_GROUPS);
  response.set_algorithm(proto::WORLD_ALLREDUCE);
  response.set_check_group_consistency(true);
  OpFor(proto::AVERAGE_ACROSS_GROUPS).Execute(context, response, round);
  ASSERT_EQ(context.rounds.size(), 1u);
  EXPECT_EQ(context.rounds[0].request.name, "round");
  EXPECT_FALSE(context.rounds[0].operation->done());  // the rounds complete it
  EXPECT_EQ(context.last_algorithm, AveragingAlgorithm::kWorldAllreduce);
  EXPECT_TRUE(context.last_check);
}

}  // namespace
}  // namespace hilo
