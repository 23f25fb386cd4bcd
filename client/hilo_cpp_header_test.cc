// The C++ API's header is the client's boundary: including it must not bring in the runtime's
// negotiation (protobuf, controller, readiness table) or transport types. A compile-time test.
#include "client/hilo_cpp.h"  // first: nothing included before it

#if defined(GOOGLE_PROTOBUF_VERSION)
#error "client/hilo_cpp.h pulls in protobuf"
#endif
#if defined(HILO_RUNTIME_NEGOTIATION_CONTROLLER_H_) || \
    defined(HILO_RUNTIME_NEGOTIATION_READINESS_TABLE_H_)
#error "client/hilo_cpp.h pulls in the negotiation"
#endif
#if defined(HILO_RUNTIME_TRANSPORT_COMMUNICATOR_H_)
#error "client/hilo_cpp.h pulls in the transport"
#endif

int main() {
  // The values it exposes are plain.
  hilo::CacheStats cache;
  hilo::transport::TransportCounters counters;
  return static_cast<int>(cache.hits + counters.bytes);
}
