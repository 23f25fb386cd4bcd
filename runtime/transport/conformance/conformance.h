// One conformance suite for every Communicator: each collective in every dtype, uneven and zero
// sizes, in place and not, and the argument errors, checked the same way on every transport.
//
// The checks are written for one rank (SPMD): every rank of the communicator calls
// RunConformance, from its own thread or process, and each computes
// what it must receive from its rank and the communicator's size. Failures are gtest failures
// naming the check, the dtype and the count. In-process transports run it with threads as ranks
// (conformance_test.cc); MPI runs it in an mpirun job (conformance_mpi_test.cc).
#ifndef HILO_RUNTIME_TRANSPORT_CONFORMANCE_CONFORMANCE_H_
#define HILO_RUNTIME_TRANSPORT_CONFORMANCE_CONFORMANCE_H_

#include <cstdint>
#include <vector>

#include "kernels/dtype.h"
#include "runtime/transport/communicator.h"

namespace hilo::transport::conformance {

// Element counts the checks use: none, one, a few, many, and more than a 1 MiB staging slot of
// any dtype holds (the shared-memory transport's pieces, the TCP ring's chunks).
std::vector<int64_t> ConformanceCounts();

// Every check, on the calls `communicator.capabilities()` declares; the calls it does not declare
// must return UNIMPLEMENTED (a declaration the transport does not keep is a failure).
void RunConformance(Communicator& communicator);

}  // namespace hilo::transport::conformance

#endif  // HILO_RUNTIME_TRANSPORT_CONFORMANCE_CONFORMANCE_H_
