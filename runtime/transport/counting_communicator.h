// A Communicator decorator that counts what hilo hands to the transport underneath.
//
// Wraps each of the runtime's communicators, so byte accounting is the same for every transport
// and every algorithm. Counted per call, as this rank's payload: allreduce, broadcast and
// reduce-scatter count their whole buffer; allgather counts this rank's contribution. Only data
// collectives are counted (negotiation traffic travels over the ControlChannel).
//
// Collective calls come from one thread at a time (the coordinator, or the averaging thread while
// the coordinator leaves the communicator alone); counters() may be read from any thread.
#ifndef HILO_RUNTIME_TRANSPORT_COUNTING_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_COUNTING_COMMUNICATOR_H_

#include <atomic>
#include <cstdint>

#include "runtime/transport/forwarding_communicator.h"
#include "runtime/transport/transport_counters.h"

namespace hilo::transport {

class CountingCommunicator final : public ForwardingCommunicator {
 public:
  // `inner` must outlive this object.
  explicit CountingCommunicator(Communicator* inner) : ForwardingCommunicator(inner) {}

  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                             kernels::Reduction op) override;
  absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) override;
  absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                         absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Broadcast(void* data, int64_t count, DataType dtype, int root) override;
  absl::Status Alltoall(const void* send, absl::Span<const int64_t> send_counts, void* recv,
                        absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status ReduceScatterSum(const void* send, void* recv,
                                absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Barrier() override;

  TransportCounters counters() const;

 private:
  // Adds one call of `bytes` that took `nanoseconds`.
  void Record(int64_t bytes, int64_t nanoseconds);

  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> busy_nanoseconds_{0};
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_COUNTING_COMMUNICATOR_H_
