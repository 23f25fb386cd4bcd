#include "runtime/request_validator.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

// 8 ranks on one node in groups of 4: world 8, group 4, cross 2.
const Topology& EightInGroupsOfFour() {
  static const Topology topology = *MakeTopology(0, 8, 0, 8, 8, 8, 4);
  return topology;
}

float buffer[64];

TensorRequest Allreduce() {
  TensorRequest request;
  request.name = "t";
  request.shape = {4, 2};
  request.data = buffer;
  return request;
}

absl::Status Check(const TensorRequest& request, bool cuda = false) {
  return ValidateRequest(request, EightInGroupsOfFour(), cuda);
}

void ExpectInvalid(const TensorRequest& request, const std::string& says) {
  const absl::Status status = Check(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(says));
}

TEST(RequestValidatorTest, WellFormedRequestsOfEveryCollectivePass) {
  EXPECT_TRUE(Check(Allreduce()).ok());
  for (CollectiveType collective : {CollectiveType::kAllgather, CollectiveType::kBroadcast,
                                    CollectiveType::kReducescatter, CollectiveType::kAlltoall}) {
    TensorRequest request = Allreduce();
    request.collective = collective;
    request.communicator = CommunicatorKind::kGroup;  // 4 ranks: 4 rows split evenly
    EXPECT_TRUE(Check(request).ok()) << CollectiveTypeName(collective) << ": " << Check(request);
  }
  TensorRequest round;
  round.name = "model";
  round.collective = CollectiveType::kAverageAcrossGroups;
  round.parameters = {{buffer, DataType::kFloat32, 8}, {buffer, DataType::kBFloat16, 0}};
  EXPECT_TRUE(Check(round).ok());
  TensorRequest empty = Allreduce();
  empty.shape = {0, 5};
  empty.data = nullptr;
  EXPECT_TRUE(Check(empty).ok()) << "no elements, no data needed";
}

TEST(RequestValidatorTest, WhatEveryRequestNeeds) {
  TensorRequest request = Allreduce();
  request.name = "";
  ExpectInvalid(request, "name must not be empty");
  request = Allreduce();
  request.communicator = static_cast<CommunicatorKind>(7);
  ExpectInvalid(request, "unknown communicator 7");
  request = Allreduce();
  request.dtype = static_cast<DataType>(99);
  ExpectInvalid(request, "unknown dtype 99");
  request = Allreduce();
  request.collective = static_cast<CollectiveType>(42);
  ExpectInvalid(request, "unknown collective 42");
  request = Allreduce();
  request.reduce_op = static_cast<ReduceOp>(9);
  ExpectInvalid(request, "unknown reduce op 9");
  request = Allreduce();
  request.shape = {3, -1};
  ExpectInvalid(request, "negative dimension");
  request = Allreduce();
  request.data = nullptr;
  ExpectInvalid(request, "data is null but shape [4, 2] has 8 elements");
}

TEST(RequestValidatorTest, Devices) {
  TensorRequest request = Allreduce();
  request.device = -2;
  ExpectInvalid(request, "device -2 is not a CUDA device");
  request.device = 0;
  EXPECT_EQ(Check(request, /*cuda=*/false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Check(request, false).message(), HasSubstr("built without CUDA"));
  EXPECT_TRUE(Check(request, /*cuda=*/true).ok());
  request.collective = CollectiveType::kAllgather;
  EXPECT_THAT(Check(request, true).message(), HasSubstr("allgather of CUDA tensors"));
}

TEST(RequestValidatorTest, FirstDimensionCollectives) {
  TensorRequest request = Allreduce();
  request.collective = CollectiveType::kReducescatter;
  request.shape = {};
  ExpectInvalid(request, "needs at least one (reshape a scalar to [1])");
  request = Allreduce();
  request.collective = CollectiveType::kReducescatter;
  request.reduce_op = ReduceOp::kMax;
  ExpectInvalid(request, "reducescatter sums or averages, not max");
}

TEST(RequestValidatorTest, AlltoallSplits) {
  TensorRequest request = Allreduce();
  request.collective = CollectiveType::kAlltoall;
  request.communicator = CommunicatorKind::kWorld;  // 8 ranks, 4 rows
  ExpectInvalid(request, "divides the first dimension (4) evenly among the world communicator's 8");
  request.splits = {1, 1, 1, 1};
  ExpectInvalid(request, "alltoall has 4 splits for the world communicator's 8 ranks");
  request.splits = {1, 1, 1, 1, 1, 1, -1, 0};
  ExpectInvalid(request, "split -1 is negative");
  request.splits = {1, 1, 1, 1, 1, 0, 0, 0};
  ExpectInvalid(request, "splits sum to 5 rows but the tensor has 4");
  request.splits = {1, 1, 1, 1, 0, 0, 0, 0};
  EXPECT_TRUE(Check(request).ok());
}

TEST(RequestValidatorTest, BroadcastRootIsARankOfItsCommunicator) {
  TensorRequest request = Allreduce();
  request.collective = CollectiveType::kBroadcast;
  request.communicator = CommunicatorKind::kCross;  // 2 ranks
  request.root_rank = 2;
  ExpectInvalid(request, "broadcast root 2 is not a rank of the cross communicator (size 2)");
  request.root_rank = 1;
  EXPECT_TRUE(Check(request).ok());
}

TEST(RequestValidatorTest, AveragingRounds) {
  TensorRequest round;
  round.name = "model";
  round.collective = CollectiveType::kAverageAcrossGroups;
  round.parameters = {{buffer, DataType::kFloat32, 8}};
  round.communicator = CommunicatorKind::kGroup;
  ExpectInvalid(round, "runs on the world communicator");
  round.communicator = CommunicatorKind::kWorld;
  round.algorithm = static_cast<AveragingAlgorithm>(5);
  ExpectInvalid(round, "unknown averaging algorithm 5");
  round.algorithm = AveragingAlgorithm::kSharded;
  round.parameters = {{buffer, DataType::kInt32, 8}};
  ExpectInvalid(round, "'model' parameter 0: averaging needs a floating-point dtype");
  round.parameters = {{buffer, DataType::kFloat32, 8}, {buffer, DataType::kFloat32, -3}};
  ExpectInvalid(round, "'model' parameter 1: negative count -3");
  round.parameters = {{nullptr, DataType::kFloat64, 2}};
  ExpectInvalid(round, "data is null but count is 2");
}

}  // namespace
}  // namespace hilo
