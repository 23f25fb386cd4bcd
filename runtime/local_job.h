// For tests: the ranks of a job as threads of this process, each with its world, group and cross
// communicators (transport/local/local_communicator.h) laid out as the topology says.
//
//   LocalJob job(/*world_size=*/4, /*group_size=*/2);
//   job.Run([&](int rank) { ... job.Communicators(rank) ... });
#ifndef HILO_RUNTIME_LOCAL_JOB_H_
#define HILO_RUNTIME_LOCAL_JOB_H_

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/averaging/averaging_rounds.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/execution/host_planes.h"
#include "runtime/operation.h"
#include "runtime/execution/response_executor.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/topology.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {

class LocalJob {
 public:
  // One machine of `world_size` ranks in groups of `group_size` (which must divide it).
  LocalJob(int world_size, int group_size);

  int world_size() const { return static_cast<int>(topologies_.size()); }
  const Topology& topology(int rank) const { return topologies_[rank]; }
  transport::LocalCommunicator& Communicator(int rank, CommunicatorKind kind);
  std::array<SessionCommunicator, kNumCommunicatorKinds> Communicators(int rank);

  // Runs `body(rank)` on a thread per rank and returns when every one has.
  void Run(const std::function<void(int rank)>& body);

 private:
  std::vector<Topology> topologies_;
  // Every communicator of the job, by kind and split color; member r is communicator rank r.
  std::map<std::pair<int, int>, std::vector<std::unique_ptr<transport::LocalCommunicator>>>
      communicators_;
};

// What one rank executes responses with, built as the runtime builds it at init (host planes
// with shared memory, the cross communicator's own transport, averaging rounds on their thread
// where they can). Build is collective over the job's ranks.
struct LocalExecution {
  // `clock` (which must outlive this) is the queue's.
  explicit LocalExecution(Clock& clock = Clock::System()) : queue(clock) {}

  TensorQueue queue;
  std::unique_ptr<HostPlanes> planes;
  std::unique_ptr<AveragingRounds> rounds;
  std::unique_ptr<ResponseExecutor> executor;

  void Build(LocalJob& job, int rank, ExecutionObserver& observer, Logger& logger);
  // Releases the transports (before the job's communicators go).
  void Close();
  // Adds `request` to the queue as the client would; returns its operation.
  std::shared_ptr<Operation> Enqueue(TensorRequest request);
};

// A float32 tensor over `data` on `kind`.
TensorRequest FloatTensor(const std::string& name, CommunicatorKind kind, std::vector<float>& data,
                          ReduceOp op = ReduceOp::kSum);

}  // namespace hilo

#endif  // HILO_RUNTIME_LOCAL_JOB_H_
