// The NCCL transport: hilo's Communicator on CUDA device memory.
//
// One NCCL communicator per hilo communicator (world, group, cross), created from a unique id
// that rank 0 broadcasts over the communicator's existing control channel (the MPI bootstrap),
// on this rank's device and with its own non-blocking CUDA stream. Collectives are enqueued on
// that stream and return at once; Synchronize() polls a CUDA event recorded after the last call
// together with ncclCommGetAsyncError, so a failed or hung peer becomes a Status naming the call,
// the communicator and the rank instead of a hang (the communicator is aborted then, and on
// Abort()). Data a framework is still producing on its own stream is waited for on the device:
// WaitForEvent() makes this stream wait for an event the framework recorded, and the host never
// blocks on the framework's stream.
//
// Uneven allgather and reduce-scatter (NCCL's need equal counts) are grouped broadcasts and
// reduces. float16 and bfloat16 are summed by NCCL in their own format, as the contract asks.
// Coordinator thread only, like every Communicator.
#ifndef HILO_RUNTIME_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"

namespace hilo::transport {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`'s ranks (which become this communicator's ranks, in order).
  // `device` is this rank's CUDA device. Creation, and every later wait, gives up after `timeout`
  // (DEADLINE_EXCEEDED naming the communicator) instead of hanging on a missing peer.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      ControlChannel& bootstrap, int device, std::string name,
      absl::Duration timeout = absl::Minutes(5));

  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  MemoryKind memory_kind() const override { return MemoryKind::kCudaDevice; }
  int device() const { return device_; }
  // The cudaStream_t the collectives run on (as void*, for kernels that must be ordered with them).
  void* stream() const;

  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                             kernels::Reduction op) override;
  absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                         absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Broadcast(void* data, int64_t count, DataType dtype, int root) override;
  absl::Status ReduceScatterSum(const void* send, void* recv,
                                absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Barrier() override;
  absl::Status Synchronize() override;

  // Makes later work on this communicator's stream wait for `cuda_event` (a cudaEvent_t the
  // framework recorded on its stream after producing a tensor). Does not block the host.
  absl::Status WaitForEvent(void* cuda_event);

  // Aborts the NCCL communicator: pending and later calls fail. For shutdown and stall timeouts.
  void Abort();

 private:
  struct Handles;  // NCCL and CUDA handles, kept out of this header
  NcclCommunicator(std::unique_ptr<Handles> handles, int rank, int size, int device,
                   std::string name, absl::Duration timeout);

  // OK, or the error of NCCL call `call` (waiting out ncclInProgress), after which the
  // communicator is aborted.
  absl::Status CheckNccl(int result, const char* call);
  absl::Status CheckCuda(int error, const char* call);
  absl::Status Error(const char* call, const std::string& what);

  std::unique_ptr<Handles> handles_;
  const int rank_;
  const int size_;
  const int device_;
  const std::string name_;
  const absl::Duration timeout_;
  bool aborted_ = false;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_
