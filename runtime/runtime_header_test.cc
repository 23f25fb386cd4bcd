// The runtime's facade is the one target client/ builds against: including runtime.h must not
// bring in protobuf, the negotiation, the coordinator's parts or the concrete transports (only
// the plain value headers and the session interface). A compile-time test.
#include "runtime/runtime.h"  // first: nothing included before it

#if defined(GOOGLE_PROTOBUF_VERSION)
#error "runtime/runtime.h pulls in protobuf"
#endif
#if defined(HILO_RUNTIME_NEGOTIATION_CONTROLLER_H_) || \
    defined(HILO_RUNTIME_NEGOTIATION_READINESS_TABLE_H_) || \
    defined(HILO_RUNTIME_NEGOTIATION_CYCLE_SCHEDULER_H_)
#error "runtime/runtime.h pulls in the negotiation"
#endif
#if defined(HILO_RUNTIME_COORDINATOR_PARTS_H_) || defined(HILO_RUNTIME_RUNTIME_CORE_H_)
#error "runtime/runtime.h pulls in the runtime's internals"
#endif
#if defined(HILO_RUNTIME_TRANSPORT_SHM_SHM_COMMUNICATOR_H_) || \
    defined(HILO_RUNTIME_TRANSPORT_TCP_TCP_COMMUNICATOR_H_) || \
    defined(HILO_RUNTIME_TRANSPORT_MPI_MPI_SESSION_H_)
#error "runtime/runtime.h pulls in a concrete transport"
#endif

int main() {
  // What the facade hands out is plain.
  hilo::CacheStats cache;
  hilo::AgreementCounts agreements;
  return static_cast<int>(cache.hits + agreements.world);
}
