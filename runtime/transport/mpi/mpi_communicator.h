// Communicator and ControlChannel over an MPI communicator, on host memory.
//
// Every call completes before it returns (Synchronize() is free). float16 and bfloat16 are
// summed by a user-defined MPI operation that runs hilo's CPU kernel (kernels/reduce.h), so MPI's
// own reduction algorithms are used for every dtype and 16-bit values are never widened on the
// wire. Counts above INT_MAX elements are split into several MPI calls where MPI allows it.
// Owned and called by the runtime's coordinator thread only.
#ifndef HILO_RUNTIME_TRANSPORT_MPI_MPI_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_MPI_MPI_COMMUNICATOR_H_

#include <mpi.h>

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kernels/dtype.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"
#include "runtime/transport/session.h"

namespace hilo::transport {

// MPI datatype and sum operation for each hilo dtype. Built once by MpiSession.
struct MpiTypeTable {
  std::array<MPI_Datatype, kNumDataTypes> datatype{};
  std::array<MPI_Op, kNumDataTypes> sum{};
  // By kernels::Reduction (min, max, product), then dtype.
  std::array<std::array<MPI_Op, kNumDataTypes>, 3> reduction{};
};

// Turns an MPI error code into a Status naming the call, the communicator and the rank.
absl::Status MpiError(int code, absl::string_view call, absl::string_view communicator, int rank);

class MpiCommunicator final : public RankCommunicator {
 public:
  // Takes ownership of `comm` (freed on destruction). `types` must outlive this object.
  MpiCommunicator(MPI_Comm comm, std::string name, const MpiTypeTable* types);
  ~MpiCommunicator() override;

  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  MemoryKind memory_kind() const override { return MemoryKind::kHost; }
  Capabilities capabilities() const override { return {.sums_slices = false, .alltoall = true}; }

  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                             kernels::Reduction op) override;
  absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                         absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Broadcast(void* data, int64_t count, DataType dtype, int root) override;
  absl::Status Alltoall(const void* send, absl::Span<const int64_t> send_counts, void* recv,
                        absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status ReduceScatterSum(const void* send, void* recv,
                                absl::Span<const int64_t> recv_counts, DataType dtype) override;
  absl::Status Barrier() override;
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::StatusOr<std::vector<std::string>> GatherToRoot(const std::string& local) override;
  absl::Status BroadcastFromRoot(std::string* message) override;
  absl::Status AllreduceBitwiseAnd(absl::Span<uint64_t> words) override;

  // How long a control-plane wait keeps polling, yielding the CPU between polls, before it
  // starts sleeping between polls (zero: sleep after a short burst of polls).
  void set_control_spin(absl::Duration spin) override { control_spin_ = spin; }
  // How long a control-plane wait may last before it gives up with DEADLINE_EXCEEDED (zero: no
  // limit). MPI itself never notices a peer whose node or link is gone; the runtime sets
  // HILO_STALL_SHUTDOWN_SECONDS here, so that a lost node ends the job instead of hanging it. The
  // abandoned request stays with MPI: after such an error the communicator is not used again.
  void set_control_timeout(absl::Duration timeout) override { control_timeout_ = timeout; }

 private:
  absl::Status Check(int code, absl::string_view call) const;
  // Completes a nonblocking control-plane request: polls for control_spin_, then sleeps between
  // polls instead of spinning.
  absl::Status WaitForControl(MPI_Request* request, absl::string_view call);
  // MPI counts are int: converts element counts, failing with OUT_OF_RANGE if one does not fit.
  absl::Status ToMpiCounts(absl::Span<const int64_t> counts, absl::string_view call,
                           std::vector<int>* out) const;

  MPI_Comm comm_;
  std::string name_;
  const MpiTypeTable* types_;
  int rank_ = 0;
  int size_ = 0;
  absl::Duration control_spin_ = absl::ZeroDuration();
  absl::Duration control_timeout_ = absl::ZeroDuration();
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_MPI_MPI_COMMUNICATOR_H_
