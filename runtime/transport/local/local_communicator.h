// An in-process transport: N ranks as N threads of one process, sharing memory.
//
// For unit tests of everything written against Communicator / ControlChannel (negotiation,
// collectives) without MPI, the way Gloo tests its algorithms with threads. Each collective
// is: every rank publishes a pointer to its input, all wait at a barrier, each rank computes
// its own output from everybody's input, all wait again. The reduction uses the same CPU
// kernels as the MPI transport's fp16/bf16 operation, summing in rank order.
//
//   auto ranks = LocalCommunicator::CreateGroup(4, "group 0");
//   // thread r: ranks[r]->AllreduceSum(data, n, DataType::kFloat32);
//
// Each LocalCommunicator is used by one thread; the shared state is synchronized internally.
#ifndef HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_COMMUNICATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"
#include "runtime/transport/session.h"

namespace hilo::transport {

class LocalCommunicator final : public RankCommunicator {
 public:
  // Returns `size` connected communicators; element r is rank r.
  static std::vector<std::unique_ptr<LocalCommunicator>> CreateGroup(int size, std::string name);

  int rank() const override { return rank_; }
  int size() const override;
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

  // Threads of one process wait on each other without polling, and cannot lose a peer to a
  // link: the pacing and the deadline of control waits do not apply.
  void set_control_spin(absl::Duration) override {}
  void set_control_timeout(absl::Duration) override {}

  struct Shared;  // state common to the group

 private:
  LocalCommunicator(std::shared_ptr<Shared> shared, int rank, std::string name)
      : shared_(std::move(shared)), rank_(rank), name_(std::move(name)) {}

  // Publishes `mine`, waits until every rank has, runs `consume` on all published pointers, and
  // waits until every rank has consumed before anyone may publish again.
  void Exchange(const void* mine, const std::function<void(const std::vector<const void*>&)>& consume);

  std::shared_ptr<Shared> shared_;
  const int rank_;
  const std::string name_;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_COMMUNICATOR_H_
