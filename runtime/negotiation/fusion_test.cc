#include "runtime/negotiation/fusion.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::ElementsAre;

proto::Response Allreduce(const std::string& name, int64_t elements,
                          proto::DataType dtype = proto::FLOAT32, proto::ReduceOp op = proto::SUM) {
  proto::Response response;
  response.set_collective(proto::ALLREDUCE);
  response.add_tensor_names(name);
  response.add_tensor_sizes(elements);
  response.set_dtype(dtype);
  response.set_reduce_op(op);
  return response;
}

std::vector<std::vector<std::string>> Names(const std::vector<proto::Response>& responses) {
  std::vector<std::vector<std::string>> names;
  for (const proto::Response& r : responses) {
    names.emplace_back(r.tensor_names().begin(), r.tensor_names().end());
  }
  return names;
}

TEST(PlanFusionTest, SameDtypeAndOpFuseUpToTheThreshold) {
  // 100-element float32 tensors are 400 bytes; 1000 bytes hold two of them.
  std::vector<proto::Response> planned =
      PlanFusion({Allreduce("a", 100), Allreduce("b", 100), Allreduce("c", 100)}, 1000);
  EXPECT_THAT(Names(planned), ElementsAre(ElementsAre("a", "b"), ElementsAre("c")));
  EXPECT_THAT(planned[0].tensor_sizes(), ElementsAre(100, 100));
}

TEST(PlanFusionTest, DifferentDtypesOrOpsAreNotFused) {
  std::vector<proto::Response> planned = PlanFusion(
      {Allreduce("f", 10), Allreduce("d", 10, proto::FLOAT64), Allreduce("avg", 10, proto::FLOAT32, proto::AVERAGE),
       Allreduce("f2", 10), Allreduce("d2", 10, proto::FLOAT64)},
      1 << 20);
  EXPECT_THAT(Names(planned), ElementsAre(ElementsAre("f", "f2"), ElementsAre("d", "d2"),
                                          ElementsAre("avg")));
}

TEST(PlanFusionTest, LargeTensorsGoAloneAndOtherResponsesKeepTheirPlace) {
  proto::Response broadcast;
  broadcast.set_collective(proto::BROADCAST);
  broadcast.add_tensor_names("bcast");
  std::vector<proto::Response> planned = PlanFusion(
      {Allreduce("small1", 10), Allreduce("huge", 1000), broadcast, Allreduce("small2", 10)}, 400);
  EXPECT_THAT(Names(planned), ElementsAre(ElementsAre("small1", "small2"), ElementsAre("huge"),
                                          ElementsAre("bcast")));
}

TEST(PlanFusionTest, ZeroThresholdDisablesFusion) {
  std::vector<proto::Response> planned = PlanFusion({Allreduce("a", 1), Allreduce("b", 1)}, 0);
  EXPECT_THAT(Names(planned), ElementsAre(ElementsAre("a"), ElementsAre("b")));
}

}  // namespace
}  // namespace hilo
