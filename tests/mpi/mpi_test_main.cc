#include "tests/mpi/mpi_test_main.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <memory>

#include "gtest/gtest.h"

namespace hilo::testing {
namespace {

// Owned by main() for the duration of RUN_ALL_TESTS; tests reach it through the accessors.
struct TestState {
  std::unique_ptr<Context> context;
  Topology topology;
};

TestState* state = nullptr;

}  // namespace

Context& HiloTestContext() { return *state->context; }
const Topology& HiloTestTopology() { return state->topology; }

}  // namespace hilo::testing

int main(int argc, char** argv) {
  // gtest picks its printer during InitGoogleTest, before hilo knows the rank; mpirun's own
  // variable says it. Ranks other than 0 print only failures.
  const char* mpi_rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (mpi_rank != nullptr && std::string(mpi_rank) != "0") GTEST_FLAG_SET(brief, true);
  ::testing::InitGoogleTest(&argc, argv);
  absl::StatusOr<std::unique_ptr<hilo::Context>> context = hilo::Context::Init();
  if (!context.ok()) {
    std::fprintf(stderr, "hilo init failed: %s\n", context.status().ToString().c_str());
    return 1;
  }
  hilo::testing::TestState state{*std::move(context), {}};
  state.topology = *state.context->topology();
  hilo::testing::state = &state;
  const int result = RUN_ALL_TESTS();
  const absl::Status shutdown = state.context->Shutdown();
  hilo::testing::state = nullptr;
  if (!shutdown.ok()) {
    std::fprintf(stderr, "hilo shutdown failed: %s\n", shutdown.ToString().c_str());
    return 1;
  }
  return result;
}
