// A Communicator that hands every call to another one. Decorators (the shared-memory allreduce,
// the hierarchical allreduce, the byte counter, test doubles) derive from it and override only
// the calls they change, so a call added to Communicator is forwarded everywhere by default.
#ifndef HILO_RUNTIME_TRANSPORT_FORWARDING_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_FORWARDING_COMMUNICATOR_H_

#include <string>

#include "runtime/transport/communicator.h"

namespace hilo::transport {

class ForwardingCommunicator : public Communicator {
 public:
  // `inner` must outlive this object.
  explicit ForwardingCommunicator(Communicator* inner) : inner_(inner) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  MemoryKind memory_kind() const override { return inner_->memory_kind(); }

  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override {
    return inner_->AllreduceSum(data, count, dtype);
  }
  absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                             kernels::Reduction op) override {
    return inner_->AllreduceWith(data, count, dtype, op);
  }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) override {
    return inner_->AllreduceSumSlices(slices, dtype);
  }
  absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                         absl::Span<const int64_t> recv_counts, DataType dtype) override {
    return inner_->Allgather(send, send_count, recv, recv_counts, dtype);
  }
  absl::Status Alltoall(const void* send, absl::Span<const int64_t> send_counts, void* recv,
                        absl::Span<const int64_t> recv_counts, DataType dtype) override {
    return inner_->Alltoall(send, send_counts, recv, recv_counts, dtype);
  }
  absl::Status Broadcast(void* data, int64_t count, DataType dtype, int root) override {
    return inner_->Broadcast(data, count, dtype, root);
  }
  absl::Status ReduceScatterSum(const void* send, void* recv,
                                absl::Span<const int64_t> recv_counts, DataType dtype) override {
    return inner_->ReduceScatterSum(send, recv, recv_counts, dtype);
  }
  absl::Status Barrier() override { return inner_->Barrier(); }
  absl::Status Synchronize() override { return inner_->Synchronize(); }

 protected:
  Communicator* inner() const { return inner_; }

 private:
  Communicator* const inner_;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_FORWARDING_COMMUNICATOR_H_
