// The transport conformance suite (transport/conformance) on MPI: every rank of the mpirun job
// runs it on the world and on a split of it (odd and even ranks, keys reversed).
#include <memory>

#include "gtest/gtest.h"
#include "runtime/transport/conformance/conformance.h"
#include "runtime/transport/mpi/mpi_test_main.h"

namespace hilo::transport {
namespace {

TEST(MpiConformanceTest, World) {
  absl::StatusOr<std::unique_ptr<RankCommunicator>> world = TestSession().World("world");
  ASSERT_TRUE(world.ok()) << world.status();
  conformance::RunConformance(**world);
}

TEST(MpiConformanceTest, Split) {
  const int rank = TestSession().world_rank();
  absl::StatusOr<std::unique_ptr<RankCommunicator>> split =
      TestSession().Split(rank % 2, -rank, rank % 2 == 0 ? "even" : "odd");
  ASSERT_TRUE(split.ok()) << split.status();
  conformance::RunConformance(**split);
}

}  // namespace
}  // namespace hilo::transport
