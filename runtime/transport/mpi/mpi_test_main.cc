#include "runtime/transport/mpi/mpi_test_main.h"

#include <cstdio>
#include <memory>

#include "gtest/gtest.h"

namespace hilo::transport {
namespace {

MpiSession* test_session = nullptr;  // owned by main()

}  // namespace

MpiSession& TestSession() { return *test_session; }

}  // namespace hilo::transport

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  absl::StatusOr<std::unique_ptr<hilo::transport::MpiSession>> session =
      hilo::transport::MpiSession::Create();
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  hilo::transport::test_session = session->get();
  const int result = RUN_ALL_TESTS();
  hilo::transport::test_session = nullptr;
  session->reset();  // frees MPI objects and finalizes
  return result;
}
