// What one rank has handed to the transport on one communicator (data collectives only): a plain
// value for the client API and the status endpoint, counted by CountingCommunicator.
#ifndef HILO_RUNTIME_TRANSPORT_TRANSPORT_COUNTERS_H_
#define HILO_RUNTIME_TRANSPORT_TRANSPORT_COUNTERS_H_

#include <cstdint>

namespace hilo::transport {

struct TransportCounters {
  int64_t calls = 0;
  int64_t bytes = 0;
  int64_t busy_nanoseconds = 0;  // wall time spent inside the wrapped calls

  // Traffic of the same communicator through another path (NCCL, the averaging thread's segment).
  TransportCounters& operator+=(const TransportCounters& other) {
    calls += other.calls;
    bytes += other.bytes;
    busy_nanoseconds += other.busy_nanoseconds;
    return *this;
  }
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_TRANSPORT_COUNTERS_H_
