// A gtest main for tests that run as every rank of an MPI job (tests/mpi/mpirun_test.sh).
//
// It starts hilo once for the whole binary (MPI allows one initialization per process), hands
// the context to tests through HiloTestContext(), and shuts it down after the last test. Every
// rank runs every test in the same order, so tests may use collectives freely; they wait with a
// timeout so that a failure on one rank is reported instead of hanging the others. Ranks other
// than 0 print only failures.
#ifndef HILO_TESTS_MPI_MPI_TEST_MAIN_H_
#define HILO_TESTS_MPI_MPI_TEST_MAIN_H_

#include "absl/time/time.h"
#include "client/hilo_cpp.h"

namespace hilo::testing {

// The context started by main(); valid during tests.
Context& HiloTestContext();
const Topology& HiloTestTopology();

// Generous bound for one operation on an oversubscribed 2-core machine.
inline constexpr absl::Duration kOperationTimeout = absl::Seconds(120);

}  // namespace hilo::testing

#endif  // HILO_TESTS_MPI_MPI_TEST_MAIN_H_
