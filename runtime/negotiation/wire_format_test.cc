#include "runtime/negotiation/wire_format.h"

#include "gtest/gtest.h"

namespace hilo {
namespace {

// The conversions are casts; this is what makes them correct. Adding an enum value on one side
// only fails here.
TEST(WireFormatTest, EnumsMirrorEachOther) {
  for (int v = 0; v < kNumDataTypes; ++v) {
    const DataType dtype = static_cast<DataType>(v);
    EXPECT_EQ(FromProto(ToProto(dtype)), dtype);
    EXPECT_TRUE(proto::DataType_IsValid(ToProto(dtype)));
    EXPECT_EQ(proto::DataType_Name(ToProto(dtype)), [&] {
      std::string upper = DataTypeName(dtype);
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      return upper;
    }());
  }
  EXPECT_EQ(proto::DataType_ARRAYSIZE, kNumDataTypes);
  EXPECT_EQ(ToProto(CollectiveType::kAllreduce), proto::ALLREDUCE);
  EXPECT_EQ(ToProto(CollectiveType::kAllgather), proto::ALLGATHER);
  EXPECT_EQ(ToProto(CollectiveType::kBroadcast), proto::BROADCAST);
  EXPECT_EQ(ToProto(CollectiveType::kAverageAcrossGroups), proto::AVERAGE_ACROSS_GROUPS);
  EXPECT_EQ(ToProto(CollectiveType::kReducescatter), proto::REDUCESCATTER);
  EXPECT_EQ(ToProto(CollectiveType::kAlltoall), proto::ALLTOALL);
  EXPECT_EQ(proto::CollectiveType_ARRAYSIZE, 6);
  EXPECT_EQ(ToProto(ReduceOp::kSum), proto::SUM);
  EXPECT_EQ(ToProto(ReduceOp::kAverage), proto::AVERAGE);
  EXPECT_EQ(ToProto(ReduceOp::kMin), proto::MIN);
  EXPECT_EQ(ToProto(ReduceOp::kMax), proto::MAX);
  EXPECT_EQ(ToProto(ReduceOp::kProduct), proto::PRODUCT);
  EXPECT_EQ(proto::ReduceOp_ARRAYSIZE, 5);
  EXPECT_EQ(ToProto(AveragingAlgorithm::kSharded), proto::SHARDED);
  EXPECT_EQ(ToProto(AveragingAlgorithm::kWorldAllreduce), proto::WORLD_ALLREDUCE);
  EXPECT_EQ(proto::AveragingAlgorithm_ARRAYSIZE, 2);
}

TEST(WireFormatTest, RequestCarriesTheParameterLayout) {
  float a[3];
  double b[2];
  TensorRequest request;
  request.name = "model";
  request.collective = CollectiveType::kAverageAcrossGroups;
  request.parameters = {{a, DataType::kFloat32, 3}, {b, DataType::kFloat64, 2}};
  request.algorithm = AveragingAlgorithm::kWorldAllreduce;
  request.check_group_consistency = true;
  proto::Request wire = ToProtoRequest(request);
  ASSERT_EQ(wire.parameters_size(), 2);
  EXPECT_EQ(wire.parameters(1).dtype(), proto::FLOAT64);
  EXPECT_EQ(wire.parameters(1).count(), 2);
  EXPECT_EQ(wire.algorithm(), proto::WORLD_ALLREDUCE);
  EXPECT_TRUE(wire.check_group_consistency());
}

}  // namespace
}  // namespace hilo
