// For the MPI transport's tests, which run as every rank of an mpirun job: main() opens the
// process's one MPI session before the tests and finalizes MPI after them.
#ifndef HILO_RUNTIME_TRANSPORT_MPI_MPI_TEST_MAIN_H_
#define HILO_RUNTIME_TRANSPORT_MPI_MPI_TEST_MAIN_H_

#include "runtime/transport/mpi/mpi_session.h"

namespace hilo::transport {

// The session main() opened; valid while the tests run.
MpiSession& TestSession();

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_MPI_MPI_TEST_MAIN_H_
